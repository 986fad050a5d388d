"""A toy course (one assignment, one exercise) so the grader's tests run in seconds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gradlab_grader import Workspace, pipeline
from gradlab_grader.cells import is_answer, nbgrader_meta


def _meta(grade_id, *, solution=False, grade=False, points=None, locked=True):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


SOLUTION = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * np.asarray(x, dtype=float)\n    ### END SOLUTION"
HALVES = ("# story: returns x instead of 2x\n# exercise: double\n# hint: factor\n"
          "def double(x):\n    return np.asarray(x, dtype=float)\n")
HIDDEN_CHECK = "checks.assert_close(double(np.ones((2, 3))), 2 * np.ones((2, 3)), name='double on a matrix')"


def toy_notebook():
    nb = new_notebook(metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    nb.cells = [
        new_markdown_cell("# Doubling", metadata=_meta("intro")),
        new_code_cell("import numpy as np\nfrom gradlab import checks", metadata=_meta("imports")),
        new_code_cell(SOLUTION, metadata=_meta("double", solution=True, locked=False)),
        new_code_cell("checks.assert_close(double(3), 6.0, name='double(3)')",
                      metadata=_meta("test_double_visible", grade=True, points=1)),
        new_code_cell("# Hidden tests\n### BEGIN HIDDEN TESTS\n" + HIDDEN_CHECK + "\n### END HIDDEN TESTS",
                      metadata=_meta("test_double_hidden", grade=True, points=2)),
    ]
    return nb


@pytest.fixture(scope="module")
def toy_repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    (root / "lib" / "gradlab").mkdir(parents=True)
    (root / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(toy_notebook(), root / "solutions" / "toy" / "toy.ipynb")
    (root / "solutions" / "toy" / "mistakes").mkdir()
    (root / "solutions" / "toy" / "mistakes" / "halves.py").write_text(HALVES)
    return root


@pytest.fixture(scope="module")
def released(toy_repo) -> Workspace:
    ws = Workspace(toy_repo / "grading", repo=toy_repo)
    pipeline.release(ws, ["toy"])
    return ws


def release_toy(root: Path, notebook, bundles: bool = True, **settings) -> Workspace:
    """A course whose one assignment ``toy`` is ``notebook``, released in a workspace under
    ``root`` (``settings``: the workspace's, e.g. ``cell_timeout``)."""
    (root / "lib" / "gradlab").mkdir(parents=True)
    (root / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(notebook, root / "solutions" / "toy" / "toy.ipynb")
    ws = Workspace(root / "grading", repo=root, **settings)
    pipeline.release(ws, ["toy"], bundles=bundles)
    return ws


def answer(ws: Workspace, body: str | None, edit=None):
    """The released toy notebook with the solution cell replaced by ``body``."""
    nb = nbformat.read(ws.course / "toy" / "toy.ipynb", as_version=4)
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if body is not None and is_answer(cell):
            cell.source = body
        if edit:
            edit(cell, meta)
    return nb


def write_inbox(folder: Path, submissions: dict) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    for student, nb in submissions.items():
        (folder / student).mkdir(parents=True)
        if isinstance(nb, str):
            (folder / student / "toy.ipynb").write_text(nb)
        else:
            nbformat.write(nb, folder / student / "toy.ipynb")
    return folder


def processes_of(uid: int) -> int:
    """How many processes of ``uid`` are alive (a sandboxed kernel's uid: what it left running)."""
    n = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                n += 1
        except FileNotFoundError:
            pass
    return n


# a kernel's children each hold 200 MiB and wait; the cell prints how many held at once
HOLD = ("import os\n"
        "r, w = os.pipe(); hold_r, hold_w = os.pipe()\n"
        "for _ in range(4):\n"
        "    if os.fork() == 0:\n"
        "        os.close(r); os.close(hold_w)\n"
        "        block = b'1' * (200 * 2**20)\n"
        "        os.write(w, b'+'); os.close(w)\n"
        "        os.read(hold_r, 1)\n"
        "        os._exit(0)\n"
        "os.close(w); os.close(hold_r)\n"
        "held = 0\n"
        "while chunk := os.read(r, 16):\n"
        "    held += len(chunk)\n"
        "os.close(hold_w)\n"
        "codes = sorted(os.waitstatus_to_exitcode(os.wait()[1]) for _ in range(4))\n"
        "print(held, codes)")
