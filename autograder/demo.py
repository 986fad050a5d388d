"""A bundled demo class: the submissions an instructor meets in a real class, built on demand.

Every demo student starts from the released notebook.  For every assignment in ``solutions/``:
``perfect`` fills each exercise with the instructor's solution; ``untouched`` hands the release
back as it came; ``broken_json`` hands in a file that is not a notebook, to show that a bad file
is reported and never stops the class.  Then one student per typical mistake of the assignment's
mistake set (:mod:`gradlab_grader.mistakes`, ``solutions/<a>/mistakes/``) makes that one
mistake, so the grade table shows exactly what it costs and which hint it triggers.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from . import mistakes, pipeline
from .cells import grade_id, is_answer, solution_source
from .fileio import write_atomically
from .outputs import report
from .outputs.results import SubmissionResult, format_table, rejected_results
from .recording import submissions
from .workspace import Workspace


@dataclass(frozen=True)
class DemoStudent:
    name: str
    story: str
    answers: dict[str, str] = field(default_factory=dict)  # exercise grade_id -> cell source
    untouched: bool = False
    hint: str = ""  # the gradlab.checks diagnostic the mistake should trigger


PERFECT = DemoStudent("perfect", "the instructor's solution")
UNTOUCHED = DemoStudent("untouched", "hands the release back unchanged", untouched=True, hint="not-implemented")
BROKEN = "broken_json"  # a file that is not a notebook; collect rejects it


def students(assignment_dir: Path) -> list[DemoStudent]:
    """The demo class of the assignment in ``assignment_dir``: the generic students, then one a
    mistake of its mistake set."""
    return [PERFECT, UNTOUCHED] + [DemoStudent(m.name, m.story, {m.exercise: m.source}, hint=m.hint)
                                   for m in mistakes.load(assignment_dir)]


def build_submission(source_nb, release_nb, student: DemoStudent):
    """The notebook ``student`` hands in, from the instructor's and the released notebooks.
    Answers for exercises of other notebooks of the assignment are left to those."""
    solutions = {grade_id(c): c.source for c in source_nb.cells if is_answer(c)}
    submission = nbformat.from_dict(release_nb)
    if student.untouched:
        return submission
    for cell in submission.cells:
        gid = grade_id(cell)
        if is_answer(cell) and gid is not None and gid in solutions:
            cell.source = student.answers.get(gid, solution_source(solutions[gid]))
    return submission


def write_inbox(ws: Workspace, assignment: str, inbox: Path) -> list[DemoStudent]:
    """Write the demo class's submissions as a folder per student (what `collect` reads), each
    with the ``timestamp.txt`` nbgrader's exchange writes at hand-in (now: nobody is late)."""
    class_ = students(ws.solutions / assignment)
    shutil.rmtree(inbox, ignore_errors=True)
    handed_in = datetime.now(timezone.utc)
    write_class(ws, assignment, class_, inbox, handed_in)
    broken = inbox / BROKEN
    broken.mkdir(parents=True, exist_ok=True)
    for path in sorted((ws.solutions / assignment).glob("*.ipynb")):
        write_atomically(broken / path.name, '{"cells": [ {"cell_type": "code", "source": "x = 1"')
    submissions.write_timestamp(broken, handed_in)
    return class_


def write_class(ws: Workspace, assignment: str, class_: list[DemoStudent], inbox: Path,
                handed_in: datetime | None = None) -> int:
    """Every notebook of ``assignment`` as each student of ``class_`` hands it in, a folder per
    student under ``inbox`` (with the hand-in's ``timestamp.txt`` when ``handed_in`` is given);
    how many notebooks."""
    notebooks = 0
    for path in sorted((ws.solutions / assignment).glob("*.ipynb")):
        source_nb = nbformat.read(path, as_version=4)
        release_nb = nbformat.read(ws.course / assignment / path.name, as_version=4)
        for student in class_:
            folder = inbox / student.name
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(build_submission(source_nb, release_nb, student), folder / path.name)
            if handed_in is not None:
                submissions.write_timestamp(folder, handed_in)
            notebooks += 1
    return notebooks


def prepare_workspace(ws: Workspace) -> None:
    """Start the demo from an empty workspace, refusing to wipe one that holds real grades."""
    if ws.root.exists() and any(ws.root.iterdir()) and not ws.demo_marker.exists():
        raise pipeline.GradlabError(
            f"{ws.root} already holds a workspace that is not a demo; pass --workspace with "
            "another folder (the demo starts from an empty one)")
    shutil.rmtree(ws.root, ignore_errors=True)
    ws.init()
    write_atomically(ws.demo_marker, "this workspace was made by `gradlab demo` and may be wiped by it\n")


def run_demo(ws: Workspace, assignments: list[str] | None = None, progress: bool = True,
             echo=print) -> list[SubmissionResult]:
    """The instructor's whole job on the demo class of each assignment (default: every one in
    ``solutions/``): release, collect, grade, feedback, export."""
    for assignment in assignments or []:
        pipeline.check_assignment(ws, assignment, must_be_released=False)
    prepare_workspace(ws)
    assignments = assignments or ws.assignments()
    results = []
    for done, assignment in enumerate(assignments, start=1):
        if done > 1:
            echo("")
        results += grade_class(ws, assignment, assignments[:done], progress, echo)
    echo("")
    for assignment in assignments:       # last: what a teacher reads first
        _, text = report.write_report(ws, assignment)
        echo(text)
    return results


def grade_class(ws: Workspace, assignment: str, exported: list[str], progress: bool,
                echo) -> list[SubmissionResult]:
    """One assignment's demo class, from release to the grades table; the CSV export holds
    the ``exported`` assignments."""
    echo(f"release   {assignment} -> {ws.course / assignment}")
    pipeline.release(ws, [assignment])
    echo(f"bundle    {ws.bundle(assignment)} (what students get: the release, "
         "the library's wheel, INSTALL.txt)")
    inbox = ws.inbox(assignment)
    write_inbox(ws, assignment, inbox)
    collected = pipeline.collect(ws, assignment, inbox)
    echo(f"collect   {collected.summary(assignment)} from {inbox}")
    for student, change in collected.renamed.items():
        echo(f"          renamed {student}: {change}")
    for student in collected.rejected:
        echo(f"          rejected {student} (the reason is below the grades)")
    results = pipeline.autograde(ws, assignment, progress=progress) + rejected_results(ws, assignment)
    pages, failed = pipeline.feedback(ws, assignment, progress=progress)
    echo(f"feedback  {len(pages)} HTML pages under {ws.step_root('feedback')}")
    for student, why in failed.items():
        echo(f"          no feedback for {student}: {why}")
    csv = pipeline.export(ws, assignments=exported)
    echo(f"export    {csv}\n")
    echo(format_table(results))
    return results
