"""The instructor's job as a Python API: release, collect, autograde, feedback, export.

The ``gradlab`` command is a thin layer over these functions.  Each step stands on nbgrader's
own Python API (``NbGraderAPI``) and its gradebook; :func:`grade_submission` is the unit of
grading work — one student's submission in, a :class:`SubmissionResult` out — so that it can
run in a local process now and on other workers later.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import nbformat
from tqdm.auto import tqdm

from .mistakes import MISTAKES_DIR
from .results import SubmissionResult, read_result
from .workspace import Workspace, nbgrader_calls

LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


class GradlabError(RuntimeError):
    """A problem the user can fix; the message says what happened and what to do."""


def _check(outcome: dict, what: str) -> None:
    """Raise GradlabError with nbgrader's reason unless an NbGraderAPI call succeeded."""
    if not outcome.get("success"):
        raise GradlabError(f"{what} failed: {failure_reason(outcome)}")


# -- release -----------------------------------------------------------------------------------

def release(ws: Workspace, assignments: list[str] | None = None, course: Path | None = None) -> list[Path]:
    """Generate the student version of each assignment and copy it to ``course/``.

    The source notebooks are copied from ``solutions/<a>`` into the workspace, nbgrader's
    ``generate_assignment`` records their cells in the gradebook (so autograde can restore
    locked cells) and writes the release; the release then replaces ``course/<a>``.
    """
    ws.init()
    course = Path(course) if course else ws.course
    assignments = assignments or ws.assignments()
    api = ws.api()
    written = []
    for assignment in assignments:
        src = ws.solutions / assignment
        if not src.is_dir():
            raise GradlabError(f"no assignment {assignment!r} in {ws.solutions}; "
                               f"known: {', '.join(ws.assignments()) or 'none'}")
        staged = ws.source(assignment)
        shutil.rmtree(staged, ignore_errors=True)
        # the mistake set stays in solutions/: nbgrader never sees it, students never get it
        shutil.copytree(src, staged, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__",
                                                                   MISTAKES_DIR))
        with nbgrader_calls():
            outcome = api.generate_assignment(assignment, force=True, create=True)
        _check(outcome, f"releasing {assignment}")
        out = ws.release(assignment)
        leaks = [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()
                 and any(m in p.read_text(errors="ignore") for m in LEAK_MARKERS)]
        if leaks:
            raise GradlabError(f"the release of {assignment} still holds solution or hidden-test "
                               f"markers in {leaks}; check the cell metadata in solutions/{assignment}")
        dest = course / assignment
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(out, dest)
        written.append(dest)
    return written


# -- collect -----------------------------------------------------------------------------------

class Collected(NamedTuple):
    students: list[str]  # collected, in order
    rejected: dict[str, str]  # student -> why nothing was taken, and what to do
    renamed: dict[str, str]  # student -> "<handed in> -> <expected>" for a renamed lone notebook


def released_notebooks(ws: Workspace, assignment: str) -> list[str]:
    """The notebook file names students were given for ``assignment``."""
    for folder in (ws.release(assignment), ws.course / assignment):
        if folder.is_dir():
            return sorted(p.name for p in folder.glob("*.ipynb"))
    return []


def collect(ws: Workspace, assignment: str, inbox: Path) -> Collected:
    """Copy submissions from a folder into the workspace.

    ``inbox`` holds one folder per student with the notebooks either directly inside or in
    an ``<assignment>/`` subfolder.  A lone notebook under another name (an LMS's
    ``week1 (1).ipynb``) is renamed to the released name; a submission with broken
    notebook JSON or without the released notebooks is rejected with what to do.  One rejected
    submission never stops the others.
    """
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise GradlabError(f"{inbox} is not a folder of student submissions")
    expected = released_notebooks(ws, assignment)
    result = Collected([], {}, {})
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir()):
        student = folder.name
        notebooks_dir = folder / assignment if (folder / assignment).is_dir() else folder
        notebooks = {p.name: p for p in sorted(notebooks_dir.glob("*.ipynb"))}
        if not notebooks:
            result.rejected[student] = f"no .ipynb files in {notebooks_dir}"
            continue
        missing = [name for name in expected if name not in notebooks]
        if missing and len(expected) == 1 and len(notebooks) == 1:
            (handed_in, path), = notebooks.items()
            notebooks = {expected[0]: path}
            result.renamed[student] = f"{handed_in} -> {expected[0]}"
        elif missing:
            result.rejected[student] = (f"expected {', '.join(missing)} but found {', '.join(notebooks)}; "
                                        "rename the files to the released names and collect again")
            continue
        problems = []
        for name, path in notebooks.items():
            try:
                nbformat.validate(nbformat.read(path, as_version=4))
            except Exception as exc:  # not JSON, not a notebook, wrong schema: the same remedy
                problems.append(f"{path.name} is not a valid notebook ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:120]}); ask the student to re-download "
                                "and resubmit")
        if problems:
            result.rejected[student] = "; ".join(problems)
            continue
        dest = ws.submission(student, assignment)
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for name, path in notebooks.items():
            shutil.copy2(path, dest / name)
        stamp = datetime.fromtimestamp(max(p.stat().st_mtime for p in notebooks.values()), timezone.utc)
        (dest / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
        result.students.append(student)
    return result


# -- autograde ---------------------------------------------------------------------------------

def grade_submission(ws: Workspace, assignment: str, student: str, api=None) -> SubmissionResult:
    """Autograde one submission with nbgrader and read back its result.

    nbgrader restores every locked cell (tests included) from the gradebook, executes the
    notebook and records each test cell's score.  A submission that nbgrader cannot grade
    comes back with ``problems``; it never raises for a student's mistake.
    """
    api = api or ws.api()
    with nbgrader_calls():
        outcome = api.autograde(assignment, student, force=True, create=True)
    result = read_result(ws, assignment, student)
    if not outcome.get("success"):
        result.problems.insert(0, f"autograde failed: {failure_reason(outcome)}")
    return result


EXCEPTION_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit)): (.*)$")
REMEDIES = {
    "DeadKernelError": "the notebook stopped its own kernel (os._exit, a crash, or out of memory)",
    "CellTimeoutError": "a cell ran past the time limit",
    "MissingEntry": "the notebook does not match the released assignment (renamed or foreign cells)",
}


def failure_reason(outcome: dict) -> str:
    """The most telling line of a failed nbgrader call, with what it usually means."""
    text = "\n".join(filter(None, (outcome.get("log"), outcome.get("error"))))
    causes = [(m.group(1), m.group(2)) for m in map(EXCEPTION_LINE.match, text.splitlines())
              if m and m.group(1) != "NbGraderException"]
    if not causes:
        return "nbgrader gave no reason; run `nbgrader autograde` in the workspace to see its log"
    name, message = causes[-1]
    remedy = REMEDIES.get(name)
    return f"{name}: {message.strip()}" + (f" — {remedy}" if remedy else "")


def autograde(ws: Workspace, assignment: str, students: list[str] | None = None,
              progress: bool = True) -> list[SubmissionResult]:
    """Grade every submission of ``assignment`` (or just ``students``), with a progress bar."""
    known = ws.students(assignment)
    unknown = sorted(set(students or []) - set(known))
    if unknown:
        raise GradlabError(f"no submission of {assignment} from {', '.join(unknown)} in "
                           f"{ws.step_root('submitted')}; collected: {', '.join(known) or 'none'}")
    students = students or known
    if not students:
        raise GradlabError(f"no submissions of {assignment} in {ws.step_root('submitted')}; "
                           "run `gradlab collect` first")
    if not ws.source(assignment).is_dir():
        raise GradlabError(f"{assignment} has not been released from this workspace; "
                           f"run `gradlab release {assignment}` first")
    api = ws.api()
    results = []
    bar = tqdm(students, desc=f"autograde {assignment}", unit="nb", disable=not progress)
    for student in bar:
        bar.set_postfix_str(student)
        results.append(grade_submission(ws, assignment, student, api))
    return results


# -- feedback and export -----------------------------------------------------------------------

def feedback(ws: Workspace, assignment: str, students: list[str] | None = None,
             progress: bool = True) -> tuple[list[Path], dict[str, str]]:
    """Write HTML feedback (hidden tests removed) for each graded submission.

    Returns ``(pages, failed)``: the HTML files written, and for each submission whose feedback
    could not be written, why.  One failure never stops the feedback of the others.
    """
    api = ws.api()
    students = students or [s for s in ws.students(assignment) if ws.autograded(s, assignment).is_dir()]
    written, failed = [], {}
    for student in tqdm(students, desc=f"feedback {assignment}", unit="nb", disable=not progress):
        with nbgrader_calls():
            outcome = api.generate_feedback(assignment, student, force=True)
        if outcome.get("success"):
            written += sorted(ws.feedback(student, assignment).glob("*.html"))
        else:
            failed[student] = failure_reason(outcome)
    return written, failed


def export(ws: Workspace, to: Path | None = None, assignments: list[str] | None = None) -> Path:
    """Write the gradebook as CSV with nbgrader's CsvExportPlugin (one row per student and assignment)."""
    from nbgrader.plugins import CsvExportPlugin

    dest = Path(to) if to else ws.exports / "grades.csv"
    dest.parent.mkdir(parents=True, exist_ok=True)
    plugin = CsvExportPlugin(to=str(dest), assignment=list(assignments or []))
    with ws.gradebook() as gb:
        plugin.export(gb)
    return dest
