"""`make lab`: the student lab serves course/ with Validate, widgets and ipympl, and nothing of
the instructor's; `make lab-instructor` serves a grading workspace with nbgrader's formgrader.

Each lab is started as the Makefile starts it (with the browser tests' server harness, no
browser needed): ``JUPYTER_CONFIG_PATH`` names its settings folders in the repository
(``lib/jupyter-config``, ``lab/instructor``).
"""

from __future__ import annotations

import html
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from browser import harness
from conftest import REPO

pytestmark = pytest.mark.kernel   # serves JupyterLab (make test-fast leaves it out)

NBGRADER_PLUGINS = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                    "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list",
                    "@jupyter/nbgrader:validate-assignment", "@jupyter/nbgrader:menu"}


@pytest.fixture(scope="module")
def lab():
    """The student lab (make lab): course/ served with the students' settings."""
    with harness.jupyter_lab(REPO / "course", config_path=harness.STUDENT_CONFIG, cwd=REPO) as server:
        yield server.url, server.log


@pytest.fixture(scope="module")
def instructor_lab(tmp_path_factory):
    """The instructor lab (make lab-instructor): a workspace, served from inside it."""
    from gradlab_grader import Workspace, pipeline

    ws = Workspace(tmp_path_factory.mktemp("grading"), repo=REPO)
    pipeline.release(ws, ws.assignments()[:1], course=ws.root / "course-copy")
    with harness.jupyter_lab(ws.root, config_path=REPO / "lab" / "instructor", cwd=ws.root) as server:
        yield server.url, server.log


def get(base: str, path: str, data: dict | None = None):
    """GET (or with ``data``, POST) ``path``: JSON as data, anything else as text."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(base + path, data=body,
                                     headers={"Authorization": f"token {harness.TOKEN}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        text = response.read().decode()
    return json.loads(text) if text[:1] in "[{" else text


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
