"""A bundled demo class: the submissions an instructor meets in a real class, built on demand.

Every demo student starts from the released notebook.  ``perfect`` fills each exercise with
the instructor's solution; ``untouched`` hands the release back as it came; each other
student makes one typical mistake in one exercise, so the grade table shows exactly what
that mistake costs and which hint it triggers.  ``broken_json`` hands in a file that is not a
notebook, to show that a bad file is reported and never stops the class.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import pipeline
from .results import SubmissionResult, format_table
from .workspace import Workspace

MARKER_LINE = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


@dataclass(frozen=True)
class DemoStudent:
    name: str
    story: str
    answers: dict[str, str] = field(default_factory=dict)  # exercise grade_id -> cell source
    untouched: bool = False
    hint: str = ""  # the gradlab.checks diagnostic the mistake should trigger


DERIVATIVES = [
    DemoStudent("perfect", "the instructor's solution"),
    DemoStudent("untouched", "hands the release back unchanged", untouched=True, hint="not-implemented"),
    DemoStudent("forward_diff", "writes a forward difference where a central one is asked", {
        "central_difference": (
            "def central_difference(f, x, h=1e-5):\n"
            "    # one-sided: (f(x + h) - f(x)) / h\n"
            "    return (f(x + h) - f(x)) / h\n"),
    }, hint="known-mistake"),
    DemoStudent("missing_half", "divides by h instead of 2h in the numerical gradient", {
        "numerical_gradient": (
            "def numerical_gradient(f, x, h=1e-5):\n"
            "    x = np.array(x, dtype=float)\n"
            "    grad = np.zeros_like(x)\n"
            "    for i in np.ndindex(x.shape):\n"
            "        old = x[i]\n"
            "        x[i] = old + h\n"
            "        f_plus = f(x)\n"
            "        x[i] = old - h\n"
            "        f_minus = f(x)\n"
            "        x[i] = old\n"
            "        grad[i] = (f_plus - f_minus) / h\n"
            "    return grad\n"),
    }, hint="factor"),
    DemoStudent("transposed", "returns the Jacobian as (n, m) instead of (m, n)", {
        "jacobian": (
            "def jacobian(f, x, h=1e-5):\n"
            "    x = np.asarray(x, dtype=float)\n"
            "    columns = []\n"
            "    for j in range(x.size):\n"
            "        step = np.zeros_like(x)\n"
            "        step[j] = h\n"
            "        columns.append(np.atleast_1d((f(x + step) - f(x - step)) / (2 * h)))\n"
            "    return np.array(columns)  # one row per input: the transpose\n"),
    }, hint="shape"),
    DemoStudent("mutates_input", "perturbs x in place and never puts it back", {
        "numerical_gradient": (
            "def numerical_gradient(f, x, h=1e-5):\n"
            "    grad = np.zeros(np.shape(x))\n"
            "    for i in np.ndindex(np.shape(x)):\n"
            "        old = x[i]\n"
            "        x[i] = old + h\n"
            "        f_plus = f(x)\n"
            "        x[i] = old - h\n"
            "        f_minus = f(x)\n"
            "        grad[i] = (f_plus - f_minus) / (2 * h)\n"
            "    return grad\n"),
    }, hint="mutation"),
    DemoStudent("calls_reference", "hands the work to gradlab's own Hessian", {
        "hessian": (
            "from gradlab.calculus import hessian as _library_hessian\n\n"
            "def hessian(f, x, h=1e-4):\n"
            "    return _library_hessian(f, x, h)\n"),
    }, hint="tripwire"),
]

CLASSES = {"01_derivatives": DERIVATIVES}


def solution_source(source: str) -> str:
    """A solution cell as the student would type it: the solution without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines() if not MARKER_LINE.match(line))


def build_submission(source_nb, release_nb, student: DemoStudent):
    """The notebook ``student`` hands in, from the instructor's and the released notebooks."""
    solutions = {c.metadata.nbgrader["grade_id"]: c.source for c in source_nb.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    unknown = set(student.answers) - set(solutions)
    if unknown:
        raise ValueError(f"demo student {student.name} answers unknown exercises {sorted(unknown)}")
    submission = nbformat.from_dict(release_nb)
    if student.untouched:
        return submission
    for cell in submission.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in solutions:
            cell.source = student.answers.get(grade_id, solution_source(solutions[grade_id]))
    return submission


def write_inbox(ws: Workspace, assignment: str, inbox: Path) -> list[DemoStudent]:
    """Write the demo class's submissions as a folder per student (what `collect` reads)."""
    students = CLASSES[assignment]
    shutil.rmtree(inbox, ignore_errors=True)
    for path in sorted((ws.solutions / assignment).glob("*.ipynb")):
        source_nb = nbformat.read(path, as_version=4)
        release_nb = nbformat.read(ws.course / assignment / path.name, as_version=4)
        for student in students:
            folder = inbox / student.name
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(build_submission(source_nb, release_nb, student), folder / path.name)
        broken = inbox / "broken_json"
        broken.mkdir(parents=True, exist_ok=True)
        (broken / path.name).write_text('{"cells": [ {"cell_type": "code", "source": "x = 1"')
    return students


DEMO_MARKER = ".gradlab-demo"


def prepare_workspace(ws: Workspace) -> None:
    """Start the demo from an empty workspace, refusing to wipe one that holds real grades."""
    if ws.root.exists() and any(ws.root.iterdir()) and not (ws.root / DEMO_MARKER).exists():
        raise pipeline.GradlabError(
            f"{ws.root} already holds a workspace that is not a demo; pass --workspace with "
            "another folder (the demo starts from an empty one)")
    shutil.rmtree(ws.root, ignore_errors=True)
    ws.init()
    (ws.root / DEMO_MARKER).write_text("this workspace was made by `gradlab demo` and may be wiped by it\n")


def run_demo(ws: Workspace, assignment: str = "01_derivatives", progress: bool = True,
             echo=print) -> list[SubmissionResult]:
    """The instructor's whole job on the demo class: release, collect, grade, feedback, export."""
    prepare_workspace(ws)
    echo(f"release   {assignment} -> {ws.course / assignment}")
    pipeline.release(ws, [assignment])
    inbox = ws.root / "inbox" / assignment
    write_inbox(ws, assignment, inbox)
    collected, rejected, renamed = pipeline.collect(ws, assignment, inbox)
    echo(f"collect   {len(collected)} submissions from {inbox}")
    for student, change in renamed.items():
        echo(f"          renamed {student}: {change}")
    for student, why in rejected.items():
        echo(f"          rejected {student}: {why}")
    results = pipeline.autograde(ws, assignment, progress=progress)
    pages, failed = pipeline.feedback(ws, assignment, progress=progress)
    echo(f"feedback  {len(pages)} HTML pages under {ws.root / 'feedback'}")
    for student, why in failed.items():
        echo(f"          no feedback for {student}: {why}")
    csv = pipeline.export(ws, assignments=[assignment])
    echo(f"export    {csv}\n")
    if rejected:
        echo("not collected (fix and collect again):\n" + "\n".join(
            f"  {s}: {why}" for s, why in rejected.items()) + "\n")
    echo(format_table(results))
    return results
