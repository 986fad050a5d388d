"""The instructor's job as a Python API: release, collect, autograde, status, feedback, export.

The ``gradlab`` command is a thin layer over these functions.  Release, feedback and export
stand on nbgrader's own Python API (``NbGraderAPI``) and its gradebook; autograde runs on
gradlab's engine (:mod:`gradlab_grader.execution.engine`: a work unit prepared and recorded by one writer,
:mod:`gradlab_grader.recording.ledger`, and executed on warm workers, :mod:`gradlab_grader.execution.driver`), which
keeps nbgrader's sanitising and scoring steps, its gradebook and its folder layout.
"""

from __future__ import annotations

import difflib
import filecmp
import os
import re
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import nbformat
from tqdm.auto import tqdm

from . import bundle
from .cells import LEAK_MARKERS
from .execution import driver, engine, pool
from .fileio import replace_folder, staging_folder, write_atomically
from .mistakes import MISTAKES_DIR
from .outputs.csvout import write_csv
from .outputs.results import SubmissionResult, read_result, read_results_of
from .recording import ledger, submissions
from .workspace import GradlabError, Workspace, nbgrader_calls


def _check(outcome: dict, what: str) -> None:
    """Raise GradlabError with nbgrader's reason unless an NbGraderAPI call succeeded."""
    if not outcome.get("success"):
        raise GradlabError(f"{what} failed: {failure_reason(outcome)}")


def released(ws: Workspace) -> list[str]:
    """The assignments released from this workspace (the ones that can be collected and graded)."""
    folder = ws.release("")
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def check_assignment(ws: Workspace, assignment: str, must_be_released: bool = True) -> None:
    """Raise GradlabError, before anything is changed, unless ``assignment`` is one of
    ``solutions/`` (``must_be_released=False``: what release takes) or was released from this
    workspace; a near miss gets a "did you mean"."""
    known = ws.assignments()
    ready = released(ws) if must_be_released else known
    if assignment in ready:
        return
    if assignment in known:
        raise GradlabError(f"{assignment} has not been released from this workspace ({ws.root}); "
                           f"run `gradlab release {assignment}` first")
    close = difflib.get_close_matches(assignment, sorted(set(known) | set(ready)), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise GradlabError(f"no assignment {assignment!r} in {ws.solutions}; {hint}"
                       f"known: {', '.join(known) or 'none'}")


# -- release -----------------------------------------------------------------------------------

def release(ws: Workspace, assignments: list[str] | None = None, course: Path | None = None,
            bundles: bool = True) -> list[Path]:
    """Generate the student version of each assignment and copy it to ``course/``.

    The source notebooks are copied from ``solutions/<a>`` into the workspace, nbgrader's
    ``generate_assignment`` records their cells in the gradebook (so autograde can restore
    locked cells) and writes the release; the release then replaces ``course/<a>``, and
    (``bundles``) the student bundle ``<workspace>/bundles/<a>.zip`` is written
    (:mod:`.bundle`: the release and the library's wheel, nothing else).
    """
    assignments = assignments or ws.assignments()
    for assignment in assignments:
        check_assignment(ws, assignment, must_be_released=False)
    ws.init()
    course = Path(course) if course else ws.course
    api = ws.api()
    written = []
    for assignment in assignments:
        src = ws.solutions / assignment
        staged = ws.source(assignment)
        shutil.rmtree(staged, ignore_errors=True)
        # the mistake set stays in solutions/: nbgrader never sees it, students never get it
        shutil.copytree(src, staged, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__",
                                                                   MISTAKES_DIR))
        for path in sorted(staged.glob("*.ipynb")):
            wrong = engine.check_source(nbformat.read(path, as_version=4))
            if wrong:
                raise GradlabError(f"solutions/{assignment}/{path.name}: how grading runs its cells is "
                                   f"unclear: {'; '.join(wrong)}")
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
        staging = staging_folder(dest)
        shutil.copytree(out, staging, dirs_exist_ok=True)
        replace_folder(staging, dest)  # course/<a> is never half a release
        written.append(dest)
        if bundles:
            try:
                bundle.write_bundle(ws, assignment)
            except bundle.BundleError as exc:
                raise GradlabError(str(exc)) from None
    if not ws.policy_file.exists():
        write_atomically(ws.policy_file, policy_template(released(ws)))
    return written


def policy_template(assignments: list[str]) -> str:
    """``gradlab.toml`` with every option commented out at its default, and what it means; the
    first release writes it (an existing file is never replaced)."""
    deadlines = "\n".join(f"# {a} = 2026-11-20T23:59:00Z" for a in assignments) or "# week1 = 2026-11-20T23:59:00Z"
    lms = "\n".join(f'# [lms.{a}]\n# title = "{a}"\n# id = 4711           # an example: yours is in the address'
                     for a in assignments[:1] or ["week1"])
    return f"""\
# gradlab.toml: the course's policy for this grading workspace.  Every option is commented out
# at its default; remove the "# " before an option (and its [section]) to change it.

# Late submissions lose a share of their score (nbgrader's late-penalty plugin).
# [late]
# percent_per_day = 0    # percent of the score per started day late (0: no penalty)
# max_percent = 100      # the most a submission can lose, in percent of its score

# Due dates (TOML date-times, UTC with Z or with an offset); no deadline: nothing is late.
# [deadlines]
{deadlines}

# Grading.
# [grading]
# figures = "auto"       # draw matplotlib figures while grading: "auto" (only where a cell is
#                        # graded by hand), "draw" (always) or "skip" (never); no score depends on them

# The LMS assignment each assignment's grades go to (gradlab export --lms canvas|moodle A).
# title: its name in the LMS (default: the assignment id); id: Canvas's assignment number, the
# last number in the assignment's address (.../courses/1234/assignments/4711 -> 4711): the
# Canvas column is then "title (id)", which Canvas matches exactly; without an id Canvas
# matches the title, or creates a new assignment.  One [lms.<assignment>] table each.
{lms}
"""


# -- collect -----------------------------------------------------------------------------------

class Collected(NamedTuple):
    students: list[str]  # every good hand-in, in order (new, resubmitted and unchanged)
    rejected: dict[str, str]  # student -> why nothing was taken, and what to do
    renamed: dict[str, str]  # student -> "<handed in> -> <expected>" for a renamed lone notebook
    resubmitted: list[str]  # replaced an earlier, different submission (its grade is superseded)
    unchanged: list[str]  # identical to the submission already collected: left as it was

    def summary(self, assignment: str) -> str:
        """'collected 3 submissions of a (1 resubmitted, 1 unchanged)'."""
        n = len(self.students)
        extra = ", ".join(part for part in (f"{len(self.resubmitted)} resubmitted" if self.resubmitted else "",
                                            f"{len(self.unchanged)} unchanged" if self.unchanged else "") if part)
        return (f"collected {n} submission{'' if n == 1 else 's'} of {assignment}"
                + (f" ({extra})" if extra else ""))


def released_notebooks(ws: Workspace, assignment: str) -> list[str]:
    """The notebook file names students were given for ``assignment``."""
    return sorted(p.name for p in ws.release(assignment).glob("*.ipynb"))


def _same_submission(dest: Path, notebooks: dict[str, Path]) -> bool:
    """True when ``dest`` already holds exactly these notebooks, byte for byte."""
    held = sorted(p.name for p in dest.glob("*.ipynb")) if dest.is_dir() else []
    return held == sorted(notebooks) and all(filecmp.cmp(path, dest / name, shallow=False)
                                             for name, path in notebooks.items())


def _links(folder: Path) -> list[str]:
    """The symbolic links in a student's folder (the folder itself included), as relative names."""
    if folder.is_symlink():
        return [folder.name]
    found = []
    for base, dirs, files in os.walk(folder):  # os.walk never descends into a linked folder
        found += [os.path.relpath(os.path.join(base, n), folder) for n in dirs + files
                  if os.path.islink(os.path.join(base, n))]
    return sorted(found)


def collect(ws: Workspace, assignment: str, inbox: Path) -> Collected:
    """Copy submissions from a folder into the workspace.

    ``inbox`` holds one folder per student with the notebooks either directly inside or in
    an ``<assignment>/`` subfolder.  A lone notebook under another name (an LMS's
    ``week1 (1).ipynb``) is renamed to the released name; a submission with broken
    notebook JSON or without the released notebooks is rejected with what to do, and the
    rejection is kept in the workspace (:mod:`.submissions`) until a good hand-in replaces it.
    One rejected submission never stops the others.  A hand-in identical to the one already
    collected is left alone (its grade stays current); a different one replaces it, and the
    earlier grade counts as superseded until the new one is graded.  The hand-in time is the
    student's ``timestamp.txt`` (nbgrader's exchange writes one); without it the time is unknown
    (a file's modification time is a copy's or a zip's, never the student's).  Symbolic links
    are never followed: a folder holding one is rejected with the reason.
    """
    check_assignment(ws, assignment)
    inbox = Path(inbox)
    if not inbox.is_dir():
        hint = "; an LMS download is collected with --roster ROSTER" if inbox.is_file() else ""
        raise GradlabError(f"{inbox} is not a folder of student submissions{hint}")
    folders = sorted(p for p in inbox.iterdir() if p.is_dir() or p.is_symlink())
    if not folders:
        raise GradlabError(f"{inbox} holds no student folders: collect expects one folder per student "
                           f"(e.g. {inbox}/<student>/{assignment}.ipynb); nothing was collected")
    expected = released_notebooks(ws, assignment)
    result = Collected([], {}, {}, [], [])
    handed_in = {}
    for folder in folders:
        student = folder.name
        links = _links(folder)
        if links:
            result.rejected[student] = (f"{', '.join(links)} {'is a' if len(links) == 1 else 'are'} symbolic "
                                        "link(s), which are never followed; hand in the files themselves")
            continue
        notebooks_dir = folder / assignment if (folder / assignment).is_dir() else folder
        notebooks = {p.name: p for p in sorted(notebooks_dir.glob("*.ipynb"))}
        if not notebooks:
            files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                           if p.is_file() and p.name != submissions.TIMESTAMP)
            result.rejected[student] = (f"handed in {', '.join(files[:5]) + (' …' if len(files) > 5 else '')}"
                                        f", no notebook" if files else "handed in nothing (an empty folder)")
            continue
        stamp_dir = notebooks_dir if (notebooks_dir / submissions.TIMESTAMP).is_file() else folder
        when = submissions.handed_in_at(stamp_dir)
        handed_in[student] = submissions.format_time(when)
        missing = [name for name in expected if name not in notebooks]
        if missing and len(expected) == 1 and len(notebooks) == 1:
            (handed_in_name, path), = notebooks.items()
            notebooks = {expected[0]: path}
            result.renamed[student] = f"{handed_in_name} -> {expected[0]}"
        elif missing:
            result.rejected[student] = (f"expected {', '.join(missing)} but found {', '.join(notebooks)}; "
                                        "rename the files to the released names and collect again")
            continue
        problems = []
        for path in notebooks.values():
            try:
                nbformat.validate(nbformat.read(path, as_version=4))
            except Exception as exc:  # not JSON, not a notebook, wrong schema: the same remedy
                first = (str(exc).splitlines() or ["empty file"])[0][:120]
                problems.append(f"{path.name} is not a valid notebook ({type(exc).__name__}: "
                                f"{first}); ask the student to re-download and resubmit")
        if problems:
            result.rejected[student] = "; ".join(problems)
            continue
        result.students.append(student)
        dest = ws.submission(student, assignment)
        if _same_submission(dest, notebooks):
            result.unchanged.append(student)
            if when is not None and submissions.read_timestamp(dest) != when:
                submissions.write_timestamp(dest, when)  # the time came later (an LMS's export)
            continue
        if dest.is_dir():
            result.resubmitted.append(student)
        staging = staging_folder(dest)  # the earlier hand-in stays whole until the new one is
        for name, path in notebooks.items():
            shutil.copyfile(path, staging / name)
        if when is not None:
            submissions.write_timestamp(staging, when)
        replace_folder(staging, dest)
    submissions.record_rejections(ws, assignment, result.rejected, handed_in, result.students)
    return result


# -- autograde ---------------------------------------------------------------------------------

def grade_submission(ws: Workspace, assignment: str, student: str, sandbox: bool | None = None) -> SubmissionResult:
    """Autograde one submission on the engine, in this process, and read back its result.

    The same three steps as :func:`autograde` (prepare, execute, record), without a pool; a
    submission that cannot be graded comes back with ``problems``, it never raises for a
    student's mistake.
    """
    _check_gradable(ws, assignment)
    say_once_if_unsandboxed(sandbox)
    settings = driver.KernelSettings.of(sandbox, hidden_paths(ws), ws.draws_figures(assignment),
                                        preload_for(ws, assignment))
    with ledger.Writer(ws, assignment) as writer:
        driver.run(writer, [student], driver.InProcess(settings))
    return mark_flagged(ws, [read_result(ws, assignment, student)])[0]


EXCEPTION_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit)): (.*)$")


def failure_reason(outcome: dict) -> str:
    """The most telling line of a failed nbgrader call, with what it usually means."""
    text = "\n".join(filter(None, (outcome.get("log"), outcome.get("error"))))
    causes = [(m.group(1), m.group(2)) for m in map(EXCEPTION_LINE.match, text.splitlines())
              if m and m.group(1) != "NbGraderException"]
    if not causes:
        return "nbgrader gave no reason; run `nbgrader autograde` in the workspace to see its log"
    name, message = causes[-1]
    remedy = engine.REMEDIES.get(name)
    return f"{name}: {message.strip()}" + (f" — {remedy}" if remedy else "")


def preload_for(ws: Workspace, assignment: str) -> list[str]:
    """Modules the workers' kernel templates import once: what the assignment's released
    notebooks import (installed packages only), or the workspace's ``kernel_preload`` setting
    (a list of module names) when it has one."""
    override = getattr(ws, "kernel_preload", None)
    if override is not None:
        return list(override)
    folder = ws.release(assignment)
    if not folder.is_dir():
        folder = ws.source(assignment)
    return engine.preload_modules(sorted(folder.glob("*.ipynb")), exclude=hidden_paths(ws))


def hidden_paths(ws: Workspace) -> list[Path]:
    """What a student kernel must never see: the workspace (gradebook, sources, other students)
    and the instructor's solutions."""
    return [ws.root, ws.solutions]


def say_once_if_unsandboxed(sandbox: bool | None) -> None:
    """Warn (once per process, loudly) when student code will run with limits only, or with
    limits per process only (no per-kernel memory bound and working copy size)."""
    import warnings

    from .kernel import bubblewrap
    from .kernel import limits as kernellimits

    why = bubblewrap.unavailable_reason()
    if sandbox is None and why:
        warnings.warn(why, bubblewrap.SandboxUnavailable, stacklevel=3)
    per_process = kernellimits.unavailable_reason()
    if per_process:   # memory and working copy bounded per process only
        warnings.warn(per_process, bubblewrap.SandboxUnavailable, stacklevel=3)


def _check_gradable(ws: Workspace, assignment: str) -> None:
    if not ws.source(assignment).is_dir():
        raise GradlabError(f"{assignment} has not been released from this workspace; "
                           f"run `gradlab release {assignment}` first")


def collect_download(ws, assignment: str, source: Path, roster_csv: Path, times: Path | None = None,
                     tz: str | None = None, mapping: dict[str, str] | None = None,
                     drop: list[str] | tuple = ()):
    """Collect an LMS download (zip or folder) against a roster: unpack it into a folder per
    student and hand that to :func:`collect`.  Returns ``(Unpacked, Collected)``.

    ``times``: the LMS's submission-times export (:func:`read_times`, its naive times in ``tz``);
    ``mapping`` (LMS key or file -> student id) and ``drop`` (keys or files to set aside) are the
    instructor's answers for files that matched nobody; both are remembered for the assignment,
    and so is the roster (``ws.roster``, for the names in later reports).  What still
    matches nobody is kept in the workspace (``gradlab status`` and the summary show it) until it
    is mapped or dropped."""
    import tempfile

    from .outputs.lms import LATE_UNKNOWN, Matcher, read_roster, read_times, unpack, write_roster

    roster = read_roster(roster_csv)
    state = submissions.lms_state(ws, assignment)
    known = {**state["map"], **(mapping or {})}
    Matcher(roster).check(known)
    dropped = set(state["dropped"]) | set(drop)
    hand_ins = read_times(times, tz) if times else []
    write_roster(roster, ws.roster)
    with tempfile.TemporaryDirectory(prefix=f".lms-{assignment}-", dir=ws.root) as inbox:
        unpacked = unpack(source, roster, Path(inbox), hand_ins, known, dropped)
        collected = (collect(ws, assignment, Path(inbox)) if unpacked.students
                     else Collected([], {}, {}, [], []))
    unmatched: dict[str, dict] = {}
    for path in unpacked.unmatched:
        key = unpacked.keys[path]
        unmatched.setdefault(key, {"files": [], "why": unpacked.why.get(key, "")})["files"].append(path)
    notes = {s: [LATE_UNKNOWN] if s in unpacked.late and unpacked.times.get(s) is None else []
             for s in collected.students}
    submissions.record_lms(ws, assignment, mapping=known, dropped=sorted(dropped),
                           unmatched=unmatched, notes=notes)
    return unpacked, collected


def autograde(ws: Workspace, assignment: str, students: list[str] | None = None,
              progress: bool = True, workers: int | None = None, sandbox: bool | None = None,
              force: bool = False, echo=None, scheduler: str | None = None) -> list[SubmissionResult]:
    """Grade the submissions of ``assignment`` on warm workers; return every student's result.

    Submissions already recorded in the ledger (same files, same source) are kept, so a run
    that was stopped — even killed — picks up where it stopped; ``students`` (given by name)
    and ``force`` grade again.  A progress bar shows the ETA; ``echo`` (default: stderr when
    ``progress``) gets the closing summary with the wall time.

    ``scheduler`` (``tcp://HOST:PORT``): execute on the workers of that Dask cluster
    (:mod:`gradlab_grader.execution.cluster`) instead of local processes; ``workers`` is then how many
    Dask workers to wait for before starting.  This process stays the only gradebook writer.
    """
    check_assignment(ws, assignment)
    known = ws.students(assignment)
    unknown = sorted(set(students or []) - set(known))
    if unknown:
        raise GradlabError(f"no submission of {assignment} from {', '.join(unknown)} in "
                           f"{ws.step_root('submitted')}; collected: {', '.join(known) or 'none'}")
    chosen = students or known
    if not chosen:
        raise GradlabError(f"no submissions of {assignment} in {ws.step_root('submitted')}; "
                           "run `gradlab collect` first")
    _check_gradable(ws, assignment)
    figures = ws.draws_figures(assignment)
    settings = driver.KernelSettings.of(sandbox, hidden_paths(ws), figures, preload_for(ws, assignment))
    backend: driver.Backend
    if scheduler:
        from .execution import cluster

        backend = cluster.DaskCluster(scheduler, settings, workers)
    else:
        say_once_if_unsandboxed(sandbox)  # on a cluster the workers' results say it
        backend = pool.LocalPool(workers, settings)
    with ledger.Writer(ws, assignment) as writer:
        todo = [s for s in chosen if force or students or writer.ledger.state(s) == ledger.PENDING]
        bar = tqdm(total=len(todo), desc=f"autograde {assignment}", unit="nb", disable=not progress)
        try:
            stats = driver.run(writer, todo, backend, figures=figures,
                               progress=lambda student: (bar.set_postfix_str(student), bar.update()))
        except Exception as exc:
            if type(exc).__name__ != "ClusterUnavailable":
                raise
            raise GradlabError(str(exc)) from None
        finally:
            bar.close()
    stats.skipped = len(chosen) - len(todo)
    if scheduler and sandbox is None and stats.sandboxed is False:
        import warnings

        from .kernel.bubblewrap import SandboxUnavailable

        warnings.warn("some Dask workers ran student code without the sandbox (bubblewrap missing or "
                      "unusable there): install bubblewrap on every worker, or pass --no-sandbox to "
                      "say that this is intended", SandboxUnavailable, stacklevel=2)
    echo = echo or ((lambda line: print(line, file=sys.stderr)) if progress else None)
    if echo:
        echo(stats.summary())
    return mark_flagged(ws, read_results_of(ws, assignment, chosen))


def mark_flagged(ws: Workspace, results: list[SubmissionResult]) -> list[SubmissionResult]:
    """Set nbgrader's "flagged" state of each graded notebook (the formgrader's "Flagged?"
    column) to what the summary says: needs a human look, or not.  Returns ``results``."""
    from nbgrader.api import MissingEntry

    with ws.gradebook() as gb:
        for r in results:
            try:
                notebooks = gb.find_submission(r.assignment, r.student).notebooks
            except MissingEntry:
                continue
            for notebook in notebooks:
                notebook.flagged = r.needs_review
        gb.db.commit()
    return results


# -- feedback and export -----------------------------------------------------------------------

def _generate_feedback(ws: Workspace, api, assignment: str, student: str) -> dict:
    """``api.generate_feedback`` on gradlab's feedback page: the API pins nbgrader's own page
    (``template_name = 'feedback'``), so its app is run here as the API runs it, with
    :meth:`Workspace.feedback_page` on top."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.utils import capture_log, temp_attrs

    with nbgrader_calls(), temp_attrs(api.coursedir, assignment_id=assignment, student_id=student):
        app = GenerateFeedback(coursedir=api.coursedir, parent=api)
        app.update_config(ws.feedback_page())
        app.force = True
        return capture_log(app)


def feedback(ws: Workspace, assignment: str, students: list[str] | None = None,
             progress: bool = True) -> tuple[list[Path], dict[str, str]]:
    """Write HTML feedback (hidden tests removed) for each graded submission whose page is not
    current: its graded notebook, its grades in the gradebook (a manual grade, a comment) or the
    feedback setting changed since its page was written.  Students named in ``students`` get
    a new page whatever.

    Returns ``(pages, failed)``: the HTML files written, and for each submission whose feedback
    could not be written, why.  One failure never stops the feedback of the others.  A grade
    superseded by a newer submission gets no feedback until the new one is graded.
    """
    check_assignment(ws, assignment)
    api = ws.api()
    named = bool(students)
    students = students or [s for s in ws.students(assignment) if ws.autograded(s, assignment).is_dir()]
    written, failed = [], {}
    book = ledger.Ledger(ws, assignment)
    for student in tqdm(students, desc=f"feedback {assignment}", unit="nb", disable=not progress):
        if book.state(student) == ledger.PENDING:
            failed[student] = (f"its newest submission is not graded yet; run `gradlab autograde "
                               f"{assignment}` first")
            continue
        stamp = _feedback_stamp(ws, assignment, student)
        stamp_file = ws.feedback(student, assignment) / FEEDBACK_STAMP
        if not named and stamp_file.is_file() and stamp_file.read_text() == stamp:
            continue
        outcome = _generate_feedback(ws, api, assignment, student)
        if outcome.get("success"):
            written += sorted(ws.feedback(student, assignment).glob("*.html"))
            write_atomically(stamp_file, stamp)
        else:
            failed[student] = failure_reason(outcome)
    return written, failed


FEEDBACK_STAMP = ".gradlab-feedback"  # what a feedback folder's pages were written from


def _feedback_stamp(ws: Workspace, assignment: str, student: str) -> str:
    """A fingerprint of what a feedback page shows: the graded notebooks, the grades and
    comments in the gradebook, the late penalty, and the hidden-test setting."""
    import hashlib

    with ws.gradebook() as gb:
        submission = gb.find_submission(assignment, student)
        grades = sorted((nb.name, g.name, g.score, g.max_score) for nb in submission.notebooks for g in nb.grades)
        comments = sorted((nb.name, c.name, c.comment) for nb in submission.notebooks for c in nb.comments)
        late = submission.late_submission_penalty
    seen = repr((engine.digest(ws.autograded(student, assignment)), grades, comments, late,
                 ws.hidden_test_feedback))
    return hashlib.sha256(seen.encode()).hexdigest()


def status(ws: Workspace, assignments: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Per assignment with submissions: collected, graded, pending, failed, rejected, flagged
    (:func:`results.count_statuses`: the summary's own rules), and how many LMS identities in the
    download matched no roster student (until mapped or dropped)."""
    from .outputs.results import count_statuses, read_results

    counts = {}
    for assignment in assignments or ws.assignments():
        results = read_results(ws, assignment) if ws.source(assignment).is_dir() else []
        unmatched = len(submissions.lms_state(ws, assignment)["unmatched"])
        if results or unmatched or assignments:
            counts[assignment] = {**count_statuses(results), "unmatched": unmatched}
    return counts


def export(ws: Workspace, to: Path | None = None, assignments: list[str] | None = None) -> Path:
    """Write the grades as CSV, one row per student and assignment (rejected hand-ins included).

    Columns: ``assignment``, ``student_id``, ``status`` (graded, superseded, not graded, could
    not be graded, rejected), ``timestamp`` (when the student handed in the graded submission,
    UTC), ``score`` (the grade: the tests' points less ``late_penalty``), ``late_penalty``,
    ``max_score``, one column per exercise (its points), ``needs_review`` and
    ``review_reason`` (what the summary lists under "needs a human look").
    """
    from .outputs.results import read_results

    for assignment in assignments or []:
        check_assignment(ws, assignment)
    with ws.gradebook():  # a gradebook that cannot be opened is an error, not an empty export
        pass
    dest = Path(to) if to else ws.exports / "grades.csv"
    rows, exercises = [], []
    for assignment in assignments or released(ws):
        for result in read_results(ws, assignment):
            scores = result.exercise_scores()
            exercises += [e for e in scores if e not in exercises]
            rows.append({"assignment": assignment, "student_id": result.student, "status": result.status,
                         "timestamp": result.submitted_at or submissions.UNKNOWN,
                         # no score for what could not be graded: never mistaken for a real zero
                         "score": f"{result.final:g}" if result.has_score else "",
                         "late_penalty": f"{result.late_penalty:g}" if result.late_penalty else "",
                         "max_score": f"{result.max_score:g}" if result.max_score else "",
                         **{e: f"{got:g}" for e, (got, _) in scores.items()},
                         "needs_review": "yes" if result.needs_review else "no",
                         "review_reason": "; ".join(result.problems)})
    columns = ["assignment", "student_id", "status", "timestamp", "score", "late_penalty", "max_score", *exercises,
               "needs_review", "review_reason"]
    return write_csv(dest, columns, ([row.get(c, "") for c in columns] for row in rows))
