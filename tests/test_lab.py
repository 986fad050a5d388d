"""`make lab`: the student lab serves course/ with Validate, widgets and ipympl, and nothing of
the instructor's; `make lab-instructor` serves a grading workspace with nbgrader's formgrader.

Each lab is started as the Makefile starts it: ``JUPYTER_CONFIG_PATH`` names its settings
folder in the repository (``lab/student``, ``lab/instructor``).
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO

TOKEN = "gradlab-test"
NBGRADER_PLUGINS = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                    "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list",
                    "@jupyter/nbgrader:validate-assignment", "@jupyter/nbgrader:menu"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp: Path, config: str, root: Path, cwd: Path):
    """Start ``jupyter lab`` as ``make lab`` / ``make lab-instructor`` does; yields (url, log)."""
    port = _free_port()
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={TOKEN}",
           "--allow-root"]
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(REPO / "lab" / config),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces")}
    log = tmp / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                get(base, "/api/status")
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("jupyter lab exited: " + log.read_text()[-2000:])
                time.sleep(0.25)
        else:
            pytest.fail("jupyter lab did not answer within 60 s")
        yield base, log
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The student lab (make lab): course/ served with lab/student's settings."""
    yield from _serve(tmp_path_factory.mktemp("student-lab"), "student", REPO / "course", REPO)


@pytest.fixture(scope="module")
def instructor_lab(tmp_path_factory):
    """The instructor lab (make lab-instructor): a workspace, served from inside it."""
    from gradlab_grader import Workspace, pipeline

    ws = Workspace(tmp_path_factory.mktemp("grading"), repo=REPO)
    pipeline.release(ws, ws.assignments()[:1], course=ws.root / "course-copy")
    yield from _serve(tmp_path_factory.mktemp("instructor-lab"), "instructor", ws.root, ws.root)


def get(base: str, path: str, data: dict | None = None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(base + path, data=body, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        text = response.read().decode()
    return json.loads(text) if response.headers.get_content_type() == "application/json" or text[:1] in "[{" else text


def status(base: str, path: str) -> int:
    try:
        get(base, path)
    except urllib.error.HTTPError as err:
        return err.code
    return 200


def page_config(base: str) -> dict:
    """The settings JupyterLab hands the page (its disabled plugins among them)."""
    page = get(base, "/lab")
    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(html.unescape(found.group(1)))


def test_lab_serves_the_student_release(lab):
    base, _ = lab
    listing = {item["name"] for item in get(base, "/api/contents")["content"]}
    assert "01_derivatives" in listing
    nb = get(base, "/api/contents/01_derivatives/01_derivatives.ipynb?content=1")["content"]
    cells = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert cells and all("NotImplementedError" in c["source"] for c in cells)


def test_lab_loads_the_course_extensions(lab):
    base, _ = lab
    # the extension manager lists packages by normalised name (@jupyter/nbgrader -> jupyter-nbgrader)
    enabled = {ext["name"] for ext in get(base, "/lab/api/extensions") if ext.get("enabled")}
    assert {"jupyter-nbgrader", "jupyter-widgets-jupyterlab-manager", "jupyter-matplotlib"} <= enabled


def test_the_student_lab_offers_validate_and_no_instructor_tools(lab):
    base, log = lab
    disabled = set(page_config(base)["disabledExtensions"])
    assert NBGRADER_PLUGINS - disabled == {"@jupyter/nbgrader:validate-assignment"}
    # the server side of formgrader, the assignment list and the course list is not there either
    for path in ("/formgrader", "/formgrader/api/assignments", "/assignments", "/courses"):
        assert status(base, path) == 404, path
    loaded = re.findall(r"nbgrader\.server_extensions\.(\w+) \| extension was successfully loaded", log.read_text())
    assert loaded == ["validate_assignment"]


def test_validate_lists_each_failing_test_as_one_short_message(lab):
    """What Validate's dialog shows for the unfinished release: one plain line pair per test."""
    base, log = lab
    reply = get(base, "/assignments/validate", {"path": "01_derivatives/01_derivatives.ipynb"})
    assert reply["success"], reply
    failed = reply["value"]["failed"]
    assert failed
    for test in failed:
        error = html.unescape(re.sub(r"<[^>]+>", "", test["error"]))  # Validate turns colours into HTML
        assert error.startswith("Test failed: `") and error.endswith(
            "is not implemented yet\n  replace `raise NotImplementedError()` with your code"), error
    text = log.read_text()
    assert "No nbgrader_config.py" not in text and "Traceback" not in text, text[-3000:]


def test_the_instructor_lab_keeps_formgrader(instructor_lab):
    base, log = instructor_lab
    disabled = set(page_config(base)["disabledExtensions"])
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
            "@jupyter/nbgrader:validate-assignment"}.isdisjoint(disabled)
    assigned = get(base, "/formgrader/api/assignments")
    assert [a["name"] for a in assigned] == ["01_derivatives"]
    text = log.read_text()
    assert "No nbgrader_config.py" not in text and "Traceback" not in text, text[-3000:]
