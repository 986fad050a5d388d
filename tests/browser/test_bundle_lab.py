"""A student's whole start, from the bundles alone, in a real JupyterLab driven by Debian's Chromium.

Every assignment is released and its bundle unzipped into one course folder; a fresh virtual
environment gets the course library the way ``INSTALL.txt`` says (``pip install`` of the wheel,
from this machine's package index and warm cache), and JupyterLab is started in the course folder
as ``INSTALL.txt`` says, with none of this repository's lab settings: what the student sees then
comes from the wheel alone.  Checked:

* the environment has the course library and nothing of the grader (no Dask, psycopg2, no
  `gradlab` command);
* the lab offers nbgrader's Validate and nothing of the instructor's (no Nbgrader menu,
  Formgrader, Create Assignment, Course List), the page shows no "Error fetching courses!" and
  the server log no exchange error or traceback;
* Run All on every untouched notebook reaches its last cell, with only test cells failing.

One lab server serves every notebook; each notebook's kernel is shut down when it is done.
Screenshots are kept in tests/browser/artifacts/.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
import zipfile

import nbformat
import pytest

from browser import harness
from gradlab_grader import Workspace, pipeline
from gradlab_grader.cells import grade_id, nbgrader_meta

from .conftest import REPO
from .test_student_lab import CELLS_JS, INSTRUCTOR_TOOLS, menu_labels, run_all_and_wait

pytestmark = pytest.mark.browser

ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def _install_steps(text: str) -> tuple[list[str], list[str]]:
    """The two commands of an INSTALL.txt: the ``pip install`` line and the ``jupyter`` line."""
    commands = [line.strip().split() for line in text.splitlines() if line.startswith("       ")]
    pip = next(c for c in commands if c[:2] == ["pip", "install"])
    lab = next(c for c in commands if c[0] == "jupyter")
    return pip, lab


@pytest.fixture(scope="module")
def bundle_lab(tmp_path_factory, browser):
    tmp = tmp_path_factory.mktemp("bundle-lab")
    ws = Workspace(tmp / "grading", repo=REPO)
    pipeline.release(ws, ASSIGNMENTS, course=tmp / "release-copy")
    course = tmp / "course"                                   # the student's course folder
    course.mkdir()
    for assignment in ASSIGNMENTS:
        with zipfile.ZipFile(ws.root / "bundles" / f"{assignment}.zip") as archive:
            archive.extractall(course)
    pip, lab_command = _install_steps((course / ASSIGNMENTS[0] / "INSTALL.txt").read_text())
    assert lab_command == ["jupyter", "lab"], f"INSTALL.txt starts the lab as {lab_command}"
    python = harness.make_venv(tmp / "venv")
    harness.pip_install(python, *(str(course / arg) if arg.endswith(".whl") else arg for arg in pip[2:]))
    # started in the course folder, no JUPYTER_CONFIG_PATH: the settings are the wheel's
    with harness.jupyter_lab(course, python=str(python), cwd=course) as server:
        server.python = python
        yield server


def _shutdown_kernels(lab):
    for kernel in lab.api("/api/kernels"):
        request = urllib.request.Request(f"{lab.url}/api/kernels/{kernel['id']}", method="DELETE",
                                         headers={"Authorization": f"token {lab.token}"})
        urllib.request.urlopen(request, timeout=30).close()


def test_the_student_install_brings_nothing_of_the_grader(bundle_lab):
    probe = ("import importlib.util as u, json; print(json.dumps([m for m in "
             "('gradlab', 'gradlab_grader', 'dask', 'distributed', 'psycopg2') if u.find_spec(m)]))")
    found = json.loads(subprocess.run([str(bundle_lab.python), "-c", probe], capture_output=True,
                                      text=True, check=True).stdout)
    assert found == ["gradlab"] and not (bundle_lab.python.parent / "gradlab").exists()


def test_the_bundle_lab_offers_validate_and_no_instructor_tools(bundle_lab, page, artifacts):
    first = f"{ASSIGNMENTS[0]}/{ASSIGNMENTS[0]}.ipynb"
    harness.open_notebook(page, bundle_lab, first)
    page.wait_for_timeout(3000)                    # what the course list would say comes late
    menus = menu_labels(page)
    offered = [f"{top} > {item}" for top, items in menus.items() for item in items
               if any(tool in item for tool in INSTRUCTOR_TOOLS)]
    assert "Nbgrader" not in menus and offered == []
    assert "Validate" in page.locator(".jp-NotebookPanel-toolbar").first.inner_text()
    assert "Error fetching" not in page.locator("body").inner_text()
    page.screenshot(path=str(artifacts / "bundle-lab.png"))
    _shutdown_kernels(bundle_lab)
    log = bundle_lab.server_log(200_000)
    assert "ExchangeError" not in log and "Traceback" not in log, log[-3000:]
    loaded = re.findall(r"nbgrader\.server_extensions\.(\w+) \| extension was successfully loaded", log)
    assert loaded == ["validate_assignment"], loaded


def test_run_all_reaches_the_last_cell_of_every_untouched_notebook(bundle_lab, browser, artifacts):
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    errors = harness.watch_errors(page)
    stopped = {}
    try:
        for assignment in ASSIGNMENTS:
            path = bundle_lab.root / assignment / f"{assignment}.ipynb"
            tests = {grade_id(c) for c in nbformat.read(path, as_version=4).cells if nbgrader_meta(c).get("grade")}
            harness.open_notebook(page, bundle_lab, f"{assignment}/{path.name}")
            run_all_and_wait(page)
            cells = page.evaluate(CELLS_JS)
            not_run = [c["id"] for c in cells if c["count"] is None]
            failed = [c["id"] for c in cells if "error" in c["kinds"] and c["id"] not in tests]
            if not_run or failed:
                stopped[assignment] = {"failed lecture cells": failed, "never ran": not_run[:3]}
                page.screenshot(path=str(artifacts / f"bundle-run-all-{assignment}.png"))
            _shutdown_kernels(bundle_lab)
    finally:
        context.close()
    assert not stopped, json.dumps(stopped, indent=1)
    assert not [e for e in errors if "ExchangeError" in e or "fetching courses" in e], errors
    assert "Traceback" not in bundle_lab.server_log(200_000)
