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

from ..cells import exercise_of_cells, grade_id
from ..contract import CHECK_CODE
from ..recording import ledger, submissions
from ..recording.integrity import inspect_submission
from ..recording.latepenalty import penalty_now
from ..status import FAILED, GRADED, NOT_GRADED, PENDING, REJECTED, SUPERSEDED, Status  # noqa: F401
from ..workspace import Workspace

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
    status: Status = GRADED  # GRADED, SUPERSEDED, NOT_GRADED, FAILED or REJECTED (gradlab_grader.status)
    submitted_at: str = ""  # when the student handed in the graded submission (UTC)
    superseded_by: str = ""  # when the newer, not yet graded submission was handed in
    late_penalty: float = 0.0  # points nbgrader's late-penalty plugin took off (gradlab.toml's [late])
    seconds: float = 0.0  # how long grading it took (the ledger's record); 0 when not recorded

    @property
    def has_score(self) -> bool:
        """Whether this result has a grade to show and export (see :attr:`Status.has_score`)."""
        return Status(self.status).has_score

    @property
    def needs_review(self) -> bool:
        """What "needs a human look" means everywhere (summary, status, export, report): a
        result with something said about it (a flag, a crash, not graded, rejected)."""
        return bool(self.problems)

    @property
    def final(self) -> float:
        """The grade: the points the tests gave, less the late penalty."""
        return self.score - self.late_penalty

    @property
    def percent(self) -> float:
        return 100.0 * self.final / self.max_score if self.max_score else 0.0

    def lost(self) -> dict[str, float]:
        """Points lost per exercise."""
        lost: dict[str, float] = {}
        for cell in self.cells:
            if cell.score < cell.max_score:
                lost[cell.exercise] = lost.get(cell.exercise, 0.0) + cell.max_score - cell.score
        return lost

    def exercise_scores(self) -> dict[str, tuple[float, float]]:
        """exercise -> (score, max_score), in notebook order."""
        scores: dict[str, tuple[float, float]] = {}
        for cell in self.cells:
            got, out_of = scores.get(cell.exercise, (0.0, 0.0))
            scores[cell.exercise] = (got + cell.score, out_of + cell.max_score)
        return scores

    def diagnostics(self) -> Counter:
        return Counter(c.diagnostic for c in self.cells if c.diagnostic)


def _failures(notebook) -> dict[str, str]:
    """grade_id -> last error line, for every cell with an nbgrader id that raised; the notes
    the traceback shows after it are kept (gradlab.checks notes the call that raised)."""
    failures: dict[str, str] = {}
    for cell in notebook.cells:
        gid = grade_id(cell)
        if gid is None or cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                error = ANSI.sub("", f"{output.get('ename')}: {output.get('evalue')}")
                # a checks' message ends in its code; any other error gets its notes
                failures[gid] = error if CHECK_CODE.search(error) else " ".join([error, *_notes(output)])
    return failures


def _notes(output) -> list[str]:
    """The lines a traceback shows after its ``<ename>: <evalue>`` line (an exception's notes)."""
    lines = [ANSI.sub("", line).strip() for line in output.get("traceback", [])]
    ends = [i for i, line in enumerate(lines) if line.startswith(f"{output.get('ename')}:")]
    return [line for line in lines[ends[-1] + 1:] if line] if ends else []


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
    return read_results_of(ws, assignment, [student])[0]


def read_results_of(ws: Workspace, assignment: str, students: list[str]) -> list[SubmissionResult]:
    """The graded results of ``students``' submissions: the gradebook, the ledger and collect's
    notes opened once for all of them."""
    notes = submissions.lms_state(ws, assignment)["notes"]
    book = ledger.Ledger(ws, assignment)
    with ws.gradebook() as gb:
        return [_result(ws, gb, book, assignment, student, notes.get(student, [])) for student in students]


def _result(ws: Workspace, gb, book, assignment: str, student: str, notes: list[str]) -> SubmissionResult:
    from nbgrader.api import MissingEntry

    result = SubmissionResult(student, assignment)
    result.problems += notes  # from collect
    handed_in = submissions.format_time(submissions.read_timestamp(ws.submission(student, assignment)))
    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        result.status, result.submitted_at = NOT_GRADED, handed_in
        result.problems.append(f"not graded yet: run `gradlab autograde {assignment}`")
        return result
    result.score, result.max_score = submission.score, submission.max_score
    result.late_penalty = penalty_now(ws, submission)  # on the scores now, hand grades included
    result.submitted_at = submissions.format_time(submission.timestamp) or handed_in
    grades = {(g.notebook.name, g.name): (g.score, g.max_score)
              for nb in submission.notebooks for g in nb.grades}
    by_hand = {g.name for nb in submission.notebooks for g in nb.grades if g.manual_score is not None}
    notebook_names = [nb.name for nb in submission.notebooks]

    problems = result.problems
    record = book.get(student)
    # the integrity check ran once, when the submission was recorded (an entry from before
    # entries kept its findings: checked now)
    flags = record.get("flags") if record is not None else None
    problems += flags if flags is not None else _integrity_now(ws, assignment, student, notebook_names)
    for name in notebook_names:
        source = _shared_notebook(ws.source(assignment) / f"{name}.ipynb")
        submitted_path = ws.submission(student, assignment) / f"{name}.ipynb"
        if not submitted_path.exists():
            problems.append(f"{name}.ipynb was not handed in: scored 0")
        owner = exercise_of_cells(source)
        graded_path = ws.autograded(student, assignment) / f"{name}.ipynb"
        failures = _failures(nbformat.read(graded_path, as_version=4)) if graded_path.exists() else {}
        for cell_id, exercise in owner.items():
            score, max_score = grades.get((name, cell_id), (0.0, 0.0))
            error = failures.get(cell_id, "")
            result.cells.append(CellResult(cell_id, exercise, score or 0.0, max_score, error,
                                           _diagnostic(error)))
        if submitted_path.exists() and not graded_path.exists():
            result.status = FAILED
    # what the engine recorded: why a notebook could not be graded, cells that crashed, hung or
    # printed too much (nbgrader's gradebook has no place for reasons)
    if record is not None:
        # a cell the instructor has since graded by hand (the formgrader) no longer needs a look
        cells = record.get("cells", [])
        stale = set(ledger.problems_of_cells(cells)) - set(
            ledger.problems_of_cells([c for c in cells if c.get("grade_id") not in by_hand]))
        problems += [p for p in record.get("problems", []) if p not in problems and p not in stale]
        result.seconds = record.get("seconds") or 0.0
        if Status(str(record.get("status"))) == FAILED:  # an old entry's "failed" too
            result.status = FAILED
    if result.status == GRADED and book.superseded(student):
        result.status, result.superseded_by = SUPERSEDED, handed_in
    return result


def _integrity_now(ws: Workspace, assignment: str, student: str, notebook_names: list[str]) -> list[str]:
    """The integrity check of a submission whose ledger entry has no findings (an old entry)."""
    found = []
    for name in notebook_names:
        released_path = ws.release(assignment) / f"{name}.ipynb"
        try:
            submitted = nbformat.read(ws.submission(student, assignment) / f"{name}.ipynb", as_version=4)
        except Exception:  # missing, or not a notebook: the ledger says why it could not be graded
            continue
        if released_path.exists():
            found += inspect_submission(_shared_notebook(released_path), submitted)
    return found


def rejected_results(ws: Workspace, assignment: str) -> list[SubmissionResult]:
    """A result for each student whose only hand-in collect rejected: status REJECTED, the
    reason as its problem."""
    collected = set(ws.students(assignment))
    return [SubmissionResult(student, assignment, status=REJECTED, submitted_at=entry.get("handed_in", ""),
                             problems=[f"rejected at collect: {entry['reason']}"])
            for student, entry in submissions.rejections(ws, assignment).items() if student not in collected]


def read_results(ws: Workspace, assignment: str) -> list[SubmissionResult]:
    """Every student's result: the collected submissions (a later hand-in that collect rejected
    is named among its problems), then the students whose only hand-in was rejected."""
    rejected = submissions.rejections(ws, assignment)
    results = read_results_of(ws, assignment, ws.students(assignment))
    for result in results:
        student = result.student
        if student in rejected:
            entry = rejected[student]
            result.problems.append(f"a later hand-in ({entry.get('handed_in') or 'time unknown'}) was "
                                   f"rejected at collect: {entry['reason']}; this grade is of the earlier one")
    return results + rejected_results(ws, assignment)


def counts_in_mean(r: SubmissionResult) -> bool:
    """Who a class's numbers count (the summary's mean, the report's every number): a current
    grade.  A superseded grade, a submission not graded or that could not be graded and a
    rejected hand-in are said, never counted as a 0."""
    return r.status == GRADED


def counted(results: list[SubmissionResult]) -> tuple[list[SubmissionResult], str]:
    """The results a class's numbers count, and what that leaves out, said as
    ``" (not counted: 1 rejected)"`` (``""`` when nothing is)."""
    left = Counter(r.status for r in results if not counts_in_mean(r))
    said = ", ".join(f"{k} {status}" for status, k in left.items())
    return [r for r in results if counts_in_mean(r)], f" (not counted: {said})" if said else ""


def display_name(student: str, names: dict[str, str] | None = None) -> str:
    """``Name (id)`` where the roster names the student, else the id."""
    name = (names or {}).get(student)
    return f"{name} ({student})" if name else student


def format_table(results: list[SubmissionResult], names: dict[str, str] | None = None) -> str:
    """A plain-text grades table, one row a student (a grade that is not current says so), then
    what needs a human look; ``names``: student id -> name from the roster."""
    if not results:
        return "no submissions graded"
    label = {r.student: display_name(r.student, names) for r in results}
    width = max(7, *map(len, label.values()))
    lines = [f"{'student':<{width}}  {'score':>11}  {'%':>5}  lost points in (hints fired)",
             f"{'-' * width}  {'-' * 11}  {'-' * 5}  {'-' * 40}"]
    for r in results:
        if not r.has_score and r.status != FAILED:
            lines.append(f"{label[r.student]:<{width}}  {'—':>11}  {'—':>5}  {r.status.upper()}")
            continue
        lost = ", ".join(f"{ex} −{pts:g}" for ex, pts in r.lost().items()) or "—"
        hints = ", ".join(f"{code}×{n}" if n > 1 else code for code, n in r.diagnostics().most_common())
        row = f"{label[r.student]:<{width}}  {r.final:>5g} / {r.max_score:<3g}  {r.percent:>5.1f}  {lost}"
        row += f" ({hints})" if hints else ""
        row += f" (late −{r.late_penalty:g})" if r.late_penalty else ""
        if r.status == SUPERSEDED:
            row += (f"  SUPERSEDED: grade of the {r.submitted_at} hand-in; a newer one "
                    f"({r.superseded_by}) awaits `gradlab autograde`")
        elif r.status != GRADED:
            row += f"  {r.status.upper()}"
        lines.append(row)
    kept, left_out = counted(results)
    current = [r.percent for r in kept]
    n = len(results)
    summary = f"\n{n} student{'' if n == 1 else 's'} · "
    if current:
        summary += (f"mean {sum(current) / len(current):.1f}% of {len(current)} current grade"
                    f"{'' if len(current) == 1 else 's'}{left_out} · {sum(s == 100 for s in current)} full marks")
    else:
        summary += f"no current grade{left_out}"
    lines.append(summary)
    unknown = [label[r.student] for r in results if not r.submitted_at and r.status != REJECTED]
    if unknown:
        who = "every student" if len(unknown) == n > 3 else ", ".join(unknown)
        lines.append(f"hand-in {submissions.UNKNOWN} (no late penalty): {who}")
    flagged = [r for r in results if r.needs_review]
    if flagged:
        lines.append("needs a human look:")
        lines += [f"  {label[r.student]}: {'; '.join(r.problems)}" for r in flagged]
    else:
        lines.append("nothing needs a human look")
    return "\n".join(lines)


STATUS_COLUMNS = ("collected", "graded", "pending", "failed", "rejected", "flagged", "unmatched")


def count_statuses(results: list[SubmissionResult]) -> dict[str, int]:
    """One assignment's row of ``gradlab status``: collected = graded + pending + failed (pending:
    not graded yet, or resubmitted since); rejected: hand-ins collect turned away; flagged: what
    the summary lists under "needs a human look" (:attr:`SubmissionResult.needs_review`)."""
    row = dict.fromkeys(STATUS_COLUMNS, 0)
    for r in results:
        status = Status(r.status)
        if status == REJECTED:
            row["rejected"] += 1
        else:
            row["collected"] += 1
            row[{GRADED: "graded", FAILED: "failed"}.get(status, "pending")] += 1
        row["flagged"] += r.needs_review
    return row


def format_status(counts: dict[str, dict[str, int]]) -> str:
    """One row an assignment (see :func:`count_statuses`)."""
    if not counts:
        return "nothing collected yet: run `gradlab collect`"
    width = max(10, *(len(a) for a in counts))
    lines = [f"{'assignment':<{width}}  " + "  ".join(f"{c:>9}" for c in STATUS_COLUMNS)]
    lines += [f"{a:<{width}}  " + "  ".join(f"{row.get(c, 0):>9}" for c in STATUS_COLUMNS) for a, row in counts.items()]
    lines.append("flagged: what `gradlab summary` lists under \"needs a human look\"")
    if any(row.get("unmatched") for row in counts.values()):
        lines.append("unmatched: files of the LMS download no roster student claims (`gradlab summary`)")
    return "\n".join(lines)
