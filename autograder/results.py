"""What grading found: scores from the gradebook, hints from the graded notebooks.

A :class:`SubmissionResult` is plain data (picklable), so it can come back from wherever a
submission was graded.  :func:`read_results` rebuilds the results of a whole class from the
workspace alone, so a summary or report never depends on the run that graded it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import nbformat

from .cells import exercise_of_cells, grade_id
from .integrity import inspect_submission
from .ledger import Ledger
from .workspace import Workspace

CHECK_CODE = re.compile(r"\(check: ([a-z-]+)\)\s*$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class CellResult:
    grade_id: str
    exercise: str  # the solution cell this test belongs to
    score: float
    max_score: float
    error: str = ""  # "<ename>: <evalue>" of a failing test, without ANSI colours
    diagnostic: str = ""  # gradlab.checks' code, e.g. "shape", "factor"; "" if none


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    cells: list[CellResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why it needs a human look (none: it does not)
    late_penalty: float = 0.0  # points nbgrader's late-penalty plugin took off (gradlab.toml's [late])

    @property
    def final(self) -> float:
        """The grade: the points the tests gave, less the late penalty."""
        return self.score - self.late_penalty

    @property
    def percent(self) -> float:
        return 100.0 * self.final / self.max_score if self.max_score else 0.0

    def lost(self) -> dict[str, float]:
        """Points lost per exercise."""
        lost: Counter[str] = Counter()
        for cell in self.cells:
            if cell.score < cell.max_score:
                lost[cell.exercise] += cell.max_score - cell.score
        return dict(lost)

    def diagnostics(self) -> Counter:
        return Counter(c.diagnostic for c in self.cells if c.diagnostic)


def _failures(notebook) -> dict[str, str]:
    """grade_id -> last error line, for every cell with an nbgrader id that raised."""
    failures = {}
    for cell in notebook.cells:
        if grade_id(cell) is None or cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                failures[grade_id(cell)] = ANSI.sub("", f"{output.get('ename')}: {output.get('evalue')}")
    return failures


def _diagnostic(error: str) -> str:
    """The gradlab.checks code in an error line; an unfinished exercise counts as one too."""
    match = CHECK_CODE.search(error)
    if match:
        return match.group(1)
    return "not-implemented" if error.startswith("NotImplementedError") else ""


@lru_cache(maxsize=16)
def _read_shared(path: Path, mtime_ns: int):
    return nbformat.read(path, as_version=4)


def _shared_notebook(path: Path):
    """A notebook every result reads (source, release): parsed once per class, not per student.
    Callers only read it."""
    return _read_shared(path, path.stat().st_mtime_ns)


def read_result(ws: Workspace, assignment: str, student: str) -> SubmissionResult:
    """The graded result of one submission, from the gradebook and the autograded notebooks."""
    from nbgrader.api import MissingEntry

    result = SubmissionResult(student, assignment)
    with ws.gradebook() as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            result.problems.append("not graded: no submission in the gradebook")
            return result
        result.score, result.max_score = submission.score, submission.max_score
        result.late_penalty = submission.late_submission_penalty or 0.0
        grades = {(g.notebook.name, g.name): (g.score, g.max_score)
                  for nb in submission.notebooks for g in nb.grades}
        notebook_names = [nb.name for nb in submission.notebooks]

    problems = result.problems
    for name in notebook_names:
        source = _shared_notebook(ws.source(assignment) / f"{name}.ipynb")
        submitted_path = ws.submission(student, assignment) / f"{name}.ipynb"
        released_path = ws.release(assignment) / f"{name}.ipynb"
        if submitted_path.exists() and released_path.exists():
            try:
                submitted = nbformat.read(submitted_path, as_version=4)
            except Exception:  # not a notebook: the ledger says why it could not be graded
                submitted = None
            if submitted is not None:
                problems += inspect_submission(_shared_notebook(released_path), submitted)
        elif not submitted_path.exists():
            problems.append(f"{name}.ipynb was not handed in: scored 0")
        owner = exercise_of_cells(source)
        graded_path = ws.autograded(student, assignment) / f"{name}.ipynb"
        failures = _failures(nbformat.read(graded_path, as_version=4)) if graded_path.exists() else {}
        for grade_id, exercise in owner.items():
            score, max_score = grades.get((name, grade_id), (0.0, 0.0))
            error = failures.get(grade_id, "")
            result.cells.append(CellResult(grade_id, exercise, score or 0.0, max_score, error,
                                           _diagnostic(error)))
    # what the engine recorded: why a notebook could not be graded, cells that crashed, hung or
    # printed too much (nbgrader's gradebook has no place for reasons)
    record = Ledger(ws, assignment).get(student)
    if record is None:
        problems.append("not graded yet: run `gradlab autograde`")
    else:
        problems += [p for p in record.get("problems", []) if p not in problems]
    if any(c.diagnostic == "tripwire" for c in result.cells):
        problems.append("calls gradlab's reference implementation (tripwire)")
    return result


def read_results(ws: Workspace, assignment: str) -> list[SubmissionResult]:
    return [read_result(ws, assignment, s) for s in ws.students(assignment)]


def format_table(results: list[SubmissionResult]) -> str:
    """A plain-text grades table, one row a student, then what needs a human look."""
    if not results:
        return "no submissions graded"
    width = max(7, *(len(r.student) for r in results))
    lines = [f"{'student':<{width}}  {'score':>11}  {'%':>5}  lost points in (hints fired)",
             f"{'-' * width}  {'-' * 11}  {'-' * 5}  {'-' * 40}"]
    for r in results:
        lost = ", ".join(f"{ex} −{pts:g}" for ex, pts in r.lost().items()) or "—"
        hints = ", ".join(f"{code}×{n}" if n > 1 else code for code, n in r.diagnostics().most_common())
        late = f" (late −{r.late_penalty:g})" if r.late_penalty else ""
        lines.append(f"{r.student:<{width}}  {r.final:>5g} / {r.max_score:<3g}  {r.percent:>5.1f}  "
                     f"{lost}{f' ({hints})' if hints else ''}{late}")
    scores = [r.percent for r in results]
    lines.append(f"\n{len(results)} submissions · mean {sum(scores) / len(scores):.1f}% · "
                 f"{sum(s == 100 for s in scores)} full marks")
    flagged = [r for r in results if r.problems]
    if flagged:
        lines.append("needs a human look:")
        lines += [f"  {r.student}: {'; '.join(r.problems)}" for r in flagged]
    else:
        lines.append("nothing needs a human look")
    return "\n".join(lines)


def format_status(counts: dict[str, dict[str, int]]) -> str:
    """One row an assignment: collected = graded + failed + pending; flagged is part of graded."""
    if not counts:
        return "nothing collected yet: run `gradlab collect`"
    width = max(10, *(len(a) for a in counts))
    columns = ("collected", "graded", "failed", "flagged", "pending")
    lines = [f"{'assignment':<{width}}  " + "  ".join(f"{c:>9}" for c in columns)]
    lines += [f"{a:<{width}}  " + "  ".join(f"{row[c]:>9}" for c in columns) for a, row in counts.items()]
    lines.append("flagged: graded, with something for a human to look at (`gradlab summary`)")
    return "\n".join(lines)
