"""Benchmark: grading a class — plain ``nbgrader autograde`` vs ``gradlab autograde``.

One generated class of ``01_derivatives`` (default 100 submissions): a third perfect, a third
partial (one typical mistake from ``solutions/01_derivatives/mistakes/``), a third wrong (the
untouched release, or every mistake at once).  The same class is graded, one after another in
this run, by:

  nbgrader   ``nbgrader autograde 01_derivatives`` in the workspace (its serial loop: one
             converter, one fresh kernel and one gradebook session per notebook; figures drawn)
  gradlab    ``gradlab autograde`` on warm workers (default: one per core), sandbox on, as the
             workspace is set up by default: no cell is graded by hand, so figures are not drawn
  no-sandbox the same engine with plain kernels (``--no-sandbox``): the sandbox's overhead
  figures    ``gradlab autograde`` with ``[grading] figures = "draw"``: the same work as nbgrader

and the floor: one notebook as nbclient runs it alone (a bare kernel start plus executing the
notebook, median of a few), with figures drawn and without.  Before the times are trusted, the
graders must give every student the same score (exit 1 otherwise).  Targets (issue 11):
gradlab ≥ 4× nbgrader's throughput on 2 cores with the sandbox on; sandbox overhead ≤ 15 %.
Timings are printed, never asserted.

Run:  python bench/bench_grading.py [--students 100] [--workers N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from gradlab_grader import Workspace, mistakes, pipeline
from gradlab_grader.demo import DemoStudent, build_submission
from gradlab_grader.execution import pool
from gradlab_grader.kernel import bubblewrap
from gradlab_grader.workspace import find_repo

ASSIGNMENT = "01_derivatives"


def make_class(ws: Workspace, n: int, inbox: Path) -> None:
    """``n`` submissions: perfect, partial (one mistake) and wrong, in turn."""
    source_nb = nbformat.read(ws.solutions / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    release_nb = nbformat.read(ws.course / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    # an answer that hands its work to the reference passes gradlab's tests (decided outside the
    # kernel; the inspection of its code flags it) and fails nbgrader's (the in-kernel tripwire):
    # the graders would disagree by design, so the class has no such answer
    found = [m for m in mistakes.load(ws.solutions / ASSIGNMENT) if not m.flagged_only]
    every = {}
    for m in found:
        every.setdefault(m.exercise, m.source)
    for i in range(n):
        kind = i % 3
        if kind == 0:
            student = DemoStudent(f"s{i:03d}", "perfect")
        elif kind == 1:
            m = found[(i // 3) % len(found)]
            student = DemoStudent(f"s{i:03d}", m.story, {m.exercise: m.source})
        else:
            student = DemoStudent(f"s{i:03d}", "wrong", dict(every), untouched=(i // 3) % 2 == 0)
        folder = inbox / student.name
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(build_submission(source_nb, release_nb, student), folder / f"{ASSIGNMENT}.ipynb")


def fresh_workspace(root: Path, repo: Path, inbox: Path) -> Workspace:
    ws = Workspace(root, repo=repo)
    pipeline.release(ws, [ASSIGNMENT], course=root / "course")
    rejected = pipeline.collect(ws, ASSIGNMENT, inbox).rejected
    assert not rejected, rejected
    return ws


def scores(ws: Workspace) -> dict[str, float]:
    with ws.gradebook() as gb:
        return {s.student.id: s.score for s in gb.find_assignment(ASSIGNMENT).submissions}


def time_nbgrader(ws: Workspace) -> float:
    nbgrader = Path(sys.executable).with_name("nbgrader")
    env = {**os.environ, "PATH": f"{nbgrader.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.perf_counter()
    proc = subprocess.run([str(nbgrader), "autograde", ASSIGNMENT, "--force"], cwd=ws.root, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
        raise SystemExit("nbgrader autograde failed")
    return seconds


def time_gradlab(ws: Workspace, workers: int, sandboxed: bool) -> tuple[float, list[str]]:
    lines = []
    start = time.perf_counter()
    pipeline.autograde(ws, ASSIGNMENT, progress=False, workers=workers, sandbox=sandboxed or False,
                       force=True, echo=lines.append)
    return time.perf_counter() - start, lines


def floor(repo: Path, inbox: Path, repeats: int, figures: bool) -> float:
    """A bare kernel start plus executing one perfect notebook with nbclient (median)."""
    from nbclient import NotebookClient

    from gradlab_grader.kernelenv import kernel_arguments

    times = []
    for _ in range(repeats):
        nb = nbformat.read(inbox / "s000" / f"{ASSIGNMENT}.ipynb", as_version=4)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                           extra_arguments=kernel_arguments(figures),
                           resources={"metadata": {"path": tmp}}).execute()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--workers", type=int, default=pool.default_workers())
    parser.add_argument("--quick", action="store_true", help="30 students")
    args = parser.parse_args(argv)
    n = 30 if args.quick else args.students
    repo = find_repo(Path(__file__).resolve().parent)
    on = bubblewrap.available()
    tmp = Path(tempfile.mkdtemp(prefix="gradlab-bench-"))
    try:
        inbox = tmp / "inbox"
        probe = Workspace(tmp / "probe", repo=repo)
        make_class(probe, n, inbox)
        print(f"{n} submissions of {ASSIGNMENT}; {os.cpu_count()} cores, {args.workers} workers; "
              f"sandbox {'available' if on else 'NOT available: ' + str(bubblewrap.unavailable_reason())}")
        ws_nb = fresh_workspace(tmp / "nbgrader", repo, inbox)
        t_nb = time_nbgrader(ws_nb)
        ws_gl = fresh_workspace(tmp / "gradlab", repo, inbox)
        t_gl, lines_gl = time_gradlab(ws_gl, args.workers, sandboxed=on)
        ws_plain = fresh_workspace(tmp / "plain", repo, inbox)
        t_plain, _ = time_gradlab(ws_plain, args.workers, sandboxed=False)
        ws_fig = fresh_workspace(tmp / "figures", repo, inbox)
        ws_fig.policy_file.write_text('[grading]\nfigures = "draw"\n')
        t_fig, lines_fig = time_gradlab(ws_fig, args.workers, sandboxed=on)
        repeats = 3 if args.quick else 5
        floor_fig, floor_nofig = floor(repo, inbox, repeats, True), floor(repo, inbox, repeats, False)

        graders = {"nbgrader": scores(ws_nb), "gradlab": scores(ws_gl), "no-sandbox": scores(ws_plain),
                   "figures drawn": scores(ws_fig)}
        ref = graders["nbgrader"]
        disagree = sorted(s for s in ref if len({g.get(s) for g in graders.values()}) != 1)
        drawn = "figures drawn" if ws_gl.draws_figures(ASSIGNMENT) else "figures not drawn"
        box = "sandbox" if on else "limits only"
        rows = [("nbgrader autograde (figures drawn)", t_nb),
                (f"gradlab autograde ({box}, {drawn})", t_gl),
                (f"gradlab autograde --no-sandbox ({drawn})", t_plain),
                (f"gradlab autograde ({box}, figures drawn)", t_fig)]
        print(f"\n{'grader':<52} {'wall s':>8} {'s / notebook':>13} {'notebooks / s':>14}")
        for name, t in rows:
            print(f"{name:<52} {t:>8.1f} {t / n:>13.2f} {n / t:>14.2f}")
        print(f"\nthroughput gradlab / nbgrader:       {t_nb / t_gl:5.2f}×   (target ≥ 4× on 2 cores, sandbox on)")
        print(f"  both drawing figures:              {t_nb / t_fig:5.2f}×")
        print(f"sandbox overhead:                    {100 * (t_gl / t_plain - 1):+5.1f} %  (target ≤ 15 %)")
        for label, t, fl in ((drawn, t_gl, floor_nofig if drawn == "figures not drawn" else floor_fig),
                             ("figures drawn", t_fig, floor_fig)):
            print(f"floor, {label + ':':<20}  {fl:5.2f} s a notebook (kernel start + execute, one at a "
                  f"time); gradlab spends {t * args.workers / n:.2f} worker-seconds a notebook "
                  f"({t * args.workers / n / fl:.2f}× the floor)")
        print(f"gradlab's own summary: {lines_gl[0] if lines_gl else '-'}")
        mean = statistics.mean(ref.values())
        print(f"scores agree for {n - len(disagree)} / {n} students (mean {mean:.1f})")
        if disagree:
            for s in disagree[:10]:
                print(f"  {s}: " + ", ".join(f"{name} {g.get(s)}" for name, g in graders.items()))
            return 1
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
