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
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


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


# gradlab's own metadata, in the source notebook only (what a submission says is never read):
#   notebook  "gradlab": {"cell_timeout": 120}   the time limit of each of its cells while grading
#   cell      "gradlab": {"timeout": 300}        this cell's time limit while grading
#   cell      "gradlab": {"grading": "skip"}     a lecture cell grading need not run (engine.plan_cells)
GRADING_SKIP = "skip"


def gradlab_meta(node) -> dict:
    """gradlab's metadata of a cell or a notebook, ``{}`` when there is none."""
    meta = node.get("metadata", {}).get("gradlab", {})
    return meta if isinstance(meta, dict) else {}


def set_label(cell, label: str) -> None:
    """Name a test cell for the feedback's contents (``"gradlab": {"label": …}``, written by
    ``LabelTests`` on the feedback's copy; the feedback template reads it back)."""
    cell.metadata.setdefault("gradlab", {})["label"] = label


def is_locked(cell) -> bool:
    """A cell nbgrader keeps the student from editing (``locked``: lecture cells and tests)."""
    return bool(nbgrader_meta(cell).get("locked"))


def has_nbgrader_meta(cell) -> bool:
    """Whether ``cell`` carries nbgrader metadata at all (a dict or not: a corrupt one too)."""
    return "nbgrader" in cell.get("metadata", {})


def raw_nbgrader_meta(cell):
    """A cell's nbgrader metadata as stored, unchecked (None without it): for the metadata check."""
    return cell.get("metadata", {}).get("nbgrader")


def skip_when_grading(cell) -> bool:
    """Whether the source marks ``cell`` as a lecture cell grading need not run."""
    return gradlab_meta(cell).get("grading") == GRADING_SKIP


def time_limit(node, key: str = "timeout") -> float | None:
    """A cell's own time limit (``key`` ``"cell_timeout"``: a notebook's limit for each cell),
    in seconds, or None; a value that is not a positive number is a ValueError."""
    value = gradlab_meta(node).get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f'"gradlab": {{"{key}": {value!r}}} is not a positive number of seconds')
    return float(value)


def execution_tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", [])) & set(EXECUTION_TAGS)


def cells_by_id(notebook) -> dict:
    """``{grade_id: cell}`` for every cell with an nbgrader id."""
    return {grade_id(c): c for c in notebook.cells if grade_id(c) is not None}


def _claimed_id(cell):
    """The id a cell claims with nbgrader metadata: its ``grade_id`` when that is a string,
    ``"(no id)"`` for metadata without a usable one, None for a cell without nbgrader metadata."""
    if not has_nbgrader_meta(cell):
        return None
    meta = raw_nbgrader_meta(cell)
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else "(no id)"


def foreign_cells(notebook, known) -> tuple[list[str], list[str]]:
    """Cells with nbgrader metadata the release did not give them: the ids of cells whose id is
    not ``known`` (``"(no id)"`` for a cell without one), and the ids more than one cell holds."""
    unknown, seen, twice = [], set(), []
    for cell in notebook.cells:
        gid = _claimed_id(cell)
        if gid is None:
            continue
        if gid not in known:
            unknown.append(gid)
        elif gid in seen:
            twice.append(gid)
        seen.add(gid)
    return list(dict.fromkeys(unknown)), list(dict.fromkeys(twice))


def drop_foreign_cells(notebook, known) -> None:
    """Make the cells :func:`foreign_cells` finds plain cells of the student's (their nbgrader
    metadata removed): a cell of an unknown id, and every copy of a duplicated id but the last
    (the one nbgrader's own ``DeduplicateIds`` keeps).  nbgrader fails on either when it records
    the grades (``KeyError: 'grade_id'``; ``SchemaTooOldError``)."""
    claimed = [_claimed_id(cell) for cell in notebook.cells]
    last = {gid: i for i, gid in enumerate(claimed) if gid is not None}
    for i, (cell, gid) in enumerate(zip(notebook.cells, claimed)):
        if gid is not None and (gid not in known or last[gid] != i):
            del cell.metadata["nbgrader"]


def answer_ids(notebook) -> list[str]:
    return [gid for c in notebook.cells if is_answer(c) and (gid := grade_id(c)) is not None]


def exercise_of_cells(notebook) -> dict[str, str]:
    """Map each test cell's id to the exercise (answer cell) it tests: the one before it."""
    owner: dict[str, str] = {}
    current = ""
    for cell in notebook.cells:
        gid = grade_id(cell)
        if is_answer(cell) and cell.cell_type == "code":
            current = gid or current
        if is_test(cell) and gid is not None:  # nbgrader's schema gives every test an id
            owner[gid] = current or gid
    return owner


def exercise_points(notebook) -> dict[str, float]:
    """``{exercise: points}``: the points of every test cell, summed per exercise."""
    owner = exercise_of_cells(notebook)
    points: dict[str, float] = {}
    for cell in notebook.cells:
        gid = grade_id(cell)
        if is_test(cell) and gid is not None:
            exercise = owner[gid]
            points[exercise] = points.get(exercise, 0) + nbgrader_meta(cell).get("points", 0)
    return points


def solution_source(source: str) -> str:
    """An answer cell as the student would type it: the solution without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines() if not SOLUTION_MARKER.match(line))
