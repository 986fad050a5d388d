"""What a notebook cell is to nbgrader: the one place gradlab reads nbgrader's cell metadata.

nbgrader marks each cell it manages with ``metadata.nbgrader``: an *answer* cell
(``solution: true``, the code a student writes), a *test* cell (``grade: true``, with
``points``), each with a ``grade_id``.  Everything in gradlab that asks what a cell is —
results, integrity findings, the demo class, the mistake sets, the tests — asks here.
"""

from __future__ import annotations

import re

# Cell tags that change how a cell is executed (nbclient skips ``skip-execution``; with
# ``raises-exception`` an error does not stop Run All).  Autograde drops them so every cell
# runs; the integrity check names a submission that added them.
EXECUTION_TAGS = ("skip-execution", "raises-exception")

# nbgrader's markers around solutions and hidden tests: none may reach what students get
LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
SOLUTION_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def nbgrader_meta(cell) -> dict:
    """A cell's nbgrader metadata, ``{}`` for a cell nbgrader does not manage."""
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def is_answer(cell) -> bool:
    """A cell the student fills in (nbgrader's ``solution`` cell)."""
    return bool(nbgrader_meta(cell).get("solution"))


def is_test(cell) -> bool:
    """A cell that earns points (nbgrader's ``grade`` cell)."""
    return bool(nbgrader_meta(cell).get("grade"))


def is_graded_by_hand(cell) -> bool:
    """A cell a person grades: nbgrader's task cell, or a graded answer (``grade`` and
    ``solution``: a written answer or a figure the instructor looks at)."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("task") or (meta.get("grade") and meta.get("solution")))


def execution_tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", [])) & set(EXECUTION_TAGS)


def cells_by_id(notebook) -> dict:
    """``{grade_id: cell}`` for every cell with an nbgrader id."""
    return {grade_id(c): c for c in notebook.cells if grade_id(c) is not None}


def answer_ids(notebook) -> list[str]:
    return [grade_id(c) for c in notebook.cells if is_answer(c)]


def exercise_of_cells(notebook) -> dict[str, str]:
    """Map each test cell's id to the exercise (answer cell) it tests: the one before it."""
    owner, current = {}, ""
    for cell in notebook.cells:
        if is_answer(cell) and cell.cell_type == "code":
            current = grade_id(cell) or current
        if is_test(cell):
            owner[grade_id(cell)] = current or grade_id(cell)
    return owner


def exercise_points(notebook) -> dict[str, float]:
    """``{exercise: points}``: the points of every test cell, summed per exercise."""
    owner, points = exercise_of_cells(notebook), {}
    for cell in notebook.cells:
        if is_test(cell):
            exercise = owner[grade_id(cell)]
            points[exercise] = points.get(exercise, 0) + nbgrader_meta(cell).get("points", 0)
    return points


def solution_source(source: str) -> str:
    """An answer cell as the student would type it: the solution without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines() if not SOLUTION_MARKER.match(line))
