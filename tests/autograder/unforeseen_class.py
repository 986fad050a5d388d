"""A small graded class whose wrong answers are mostly ones the course did not foresee.

A toy assignment of two exercises, ``double`` and ``sigmoid``, with one foreseen mistake in its
mistake set (``halves``: a missing factor 2).  The class, graded for real (release, collect,
autograde), hands in four plausible wrong answers that are *not* in the mistake set:

* an overflowing sigmoid, ``1 / (1 + math.exp(-z))``: ``OverflowError: math range error`` at
  z = -1000 (two students, written differently);
* a sigmoid with the exponent's sign flipped, ``1 / (1 + exp(z))``: a mismatch the checks cannot
  name;
* a typo, ``X`` for ``x``: ``NameError`` in every test of ``double``;
* ``2 * x`` on a Python list: the list repeated, a shape the checks cannot explain;

plus a perfect answer, the foreseen mistake and a hand-in that is not a notebook (rejected at
collect).  ``CLUSTERS`` is the grouping a teacher must see, worked out by hand from the tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gradlab_grader import Workspace, pipeline
from gradlab_grader.cells import is_answer, nbgrader_meta

from .conftest import _meta

ASSIGNMENT = "week"


SETUP = ("import math\nimport numpy as np\nfrom gradlab import checks\nchecks.install_handler()\n\n"
         "def stable_sigmoid(z):\n    return 0.5 * (1.0 + math.tanh(z / 2.0))  # = 1 / (1 + exp(-z)), never overflows")
SOLUTIONS = {
    "double": "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * np.asarray(x, dtype=float)\n    ### END SOLUTION",
    "sigmoid": "def sigmoid(z):\n    ### BEGIN SOLUTION\n"
               "    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))\n"
               "    ### END SOLUTION",
}
# the checks' results are assigned: a test cell's last value would count as partial credit
TESTS = {
    "test_double_visible": (1, "checks.assert_close(double(3), 6.0, name='double(3)')"),
    "test_double_hidden": (2, "checks.assert_close(double(np.ones((2, 3))), 2 * np.ones((2, 3)), "
                              "name='double on a matrix')\n"
                              "checks.assert_close(double([1.0, 2.5]), [2.0, 5.0], name='double([1.0, 2.5])')"),
    "test_sigmoid_visible": (1, "_ = checks.compare(sigmoid, stable_sigmoid, 0.5)"),
    "test_sigmoid_hidden": (2, "_ = checks.compare(sigmoid, stable_sigmoid, 3.0)\n"
                               "_ = checks.compare(sigmoid, stable_sigmoid, -1000.0)"),
}
HALVES = ("# story: returns x instead of 2x\n# exercise: double\n# hint: factor\n"
          "def double(x):\n    return np.asarray(x, dtype=float)\n")

# student -> {exercise: answer}; an exercise left out gets the instructor's solution
ANSWERS = {
    "ada": {},
    "ben": {"double": "def double(x):\n    return np.asarray(x, dtype=float)\n"},
    "cem": {"sigmoid": "def sigmoid(z):\n    return 1 / (1 + math.exp(-z))\n"},
    "dia": {"sigmoid": "def sigmoid(t):\n    e = math.exp(-t)  # e^-t\n    return 1.0 / (1.0 + e)\n"},
    "eve": {"sigmoid": "def sigmoid(z):\n    return 1 / (1 + np.exp(z))\n"},
    "fay": {"double": "def double(x):\n    return 2 * np.asarray(X, dtype=float)\n"},
    "gus": {"double": "def double(x):\n    return 2 * x\n"},
}
REJECTED = "hal"  # hands in a file that is not a notebook

# every failure cluster: (the students in it, the tests it covers, a text its row must show)
CLUSTERS = [
    # the checks state the relation on each test's input (no mistake named from one input alone)
    ({"ben"}, {"test_double_visible"}, "1/2 of the expected value"),
    ({"ben"}, {"test_double_hidden"}, "1/2 of the expected value"),
    ({"cem", "dia"}, {"test_sigmoid_hidden"}, "OverflowError: math range error"),
    ({"eve"}, {"test_sigmoid_visible"}, "expected 0.6224593312, got 0.3775406688"),
    ({"eve"}, {"test_sigmoid_hidden"}, "expected 0.9525741268, got 0.04742587318"),
    ({"fay"}, {"test_double_visible"}, "NameError: name 'X' is not defined"),
    ({"fay"}, {"test_double_hidden"}, "NameError: name 'X' is not defined"),
    ({"gus"}, {"test_double_hidden"}, "expected shape (2,), got (4,)"),
]


def notebook():
    nb = new_notebook(metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    nb.cells = [new_markdown_cell("# A week of two exercises", metadata=_meta("intro")),
                new_code_cell(SETUP, metadata=_meta("imports"))]
    for exercise, solution in SOLUTIONS.items():
        nb.cells.append(new_code_cell(solution, metadata=_meta(exercise, solution=True, locked=False)))
        for test, (points, source) in TESTS.items():
            if test.startswith(f"test_{exercise}_"):
                if test.endswith("hidden"):
                    source = f"### BEGIN HIDDEN TESTS\n{source}\n### END HIDDEN TESTS"
                nb.cells.append(new_code_cell(source, metadata=_meta(test, grade=True, points=points)))
    return nb


def write_course(root: Path) -> Path:
    """A course repository holding the assignment and its mistake set; returns its root."""
    (root / "lib" / "gradlab").mkdir(parents=True, exist_ok=True)
    folder = root / "solutions" / ASSIGNMENT
    (folder / "mistakes").mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook(), folder / f"{ASSIGNMENT}.ipynb")
    (folder / "mistakes" / "halves.py").write_text(HALVES)
    return root


def handed_in(ws: Workspace, answers: dict[str, str]):
    """The released notebook with these answer cells filled in (the solution elsewhere)."""
    nb = nbformat.read(ws.release(ASSIGNMENT) / f"{ASSIGNMENT}.ipynb", as_version=4)
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if is_answer(cell):
            cell.source = answers.get(gid) or SOLUTIONS[gid].replace("### BEGIN SOLUTION\n    ", "").replace(
                "\n    ### END SOLUTION", "")
    return nb


def grade_class(root: Path, roster: str | None = None) -> Workspace:
    """Release the assignment, collect the class (and ``roster`` as the workspace's roster.csv),
    autograde it; returns the workspace."""
    repo = write_course(root / "repo")
    ws = Workspace(root / "grading", repo=repo)
    pipeline.release(ws, [ASSIGNMENT], course=root / "course")
    inbox = root / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    for student, answers in ANSWERS.items():
        (inbox / student).mkdir(parents=True)
        nbformat.write(handed_in(ws, answers), inbox / student / f"{ASSIGNMENT}.ipynb")
    (inbox / REJECTED).mkdir()
    (inbox / REJECTED / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [')
    pipeline.collect(ws, ASSIGNMENT, inbox)
    if roster is not None:
        (ws.root / "roster.csv").write_text(roster)
    pipeline.autograde(ws, ASSIGNMENT, progress=False)
    return ws
