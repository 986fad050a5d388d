"""Benchmark: what the diagnosis of failing checks costs a graded notebook, graded as in a course.

A failing ``checks.compare`` runs :mod:`gradlab.diagnosis` (probes, relations to the reference)
before it raises; a passing one never does.  Grading decides test cells in the grader's worker
(``gradlab_grader.execution.trusted``) and every probe that calls the student's function is a
request to the student's kernel, so the cost is measured here through the real engine.

For each assignment chosen (default: every one with a mistake set; ``--quick``: 03_backprop and
04_optimizers, the two with the most mistakes), a class of the solution plus one submission per
answer of its mistake set (``solutions/<a>/mistakes``, built as ``gradlab_grader.demo`` builds
its class) is graded with ``pipeline.autograde(..., force=True)`` on the local pool (default
workers, sandbox on when available), with the diagnosis on and off (``GRADLAB_DIAGNOSIS=off`` in
the environment the pool's worker processes inherit: every failing check raises its bare
comparison at once), interleaved over ``--repeats`` rounds, which goes first alternating.  Both
must give every student the same score, and the run without the diagnosis must show none of its
messages (the switch reached the workers); exit 1 otherwise.

Reported per assignment: notebooks, failing tests, tests whose message the diagnosis changed, the
median over rounds of the wall seconds per notebook (pool start included, as for an instructor)
on and off, and the growth; then the total over the assignments (target of the diagnosis: at
most 10 %).  Timings are printed, never asserted.

Run:  python bench/bench_diagnosis.py [--assignment 04_optimizers ...] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from gradlab.checks import DIAGNOSIS_SWITCH
from gradlab_grader import Workspace, mistakes, pipeline
from gradlab_grader.demo import PERFECT, DemoStudent, write_class
from gradlab_grader.execution import pool
from gradlab_grader.kernel import bubblewrap
from gradlab_grader.workspace import find_repo

QUICK = ("03_backprop", "04_optimizers")
UNEXPLAINED = "no single cause found"  # gradlab.diagnosis's words when no relation holds


def assignments_with_mistakes(repo: Path) -> list[str]:
    return sorted(p.parent.name for p in (repo / "solutions").glob(f"*/{mistakes.MISTAKES_DIR}") if p.is_dir())


def make_class(ws: Workspace, assignment: str, inbox: Path) -> int:
    """The solution and one submission per mistake, every notebook of the assignment; how many."""
    class_ = [PERFECT] + [DemoStudent(m.name, m.story, {m.exercise: m.source})
                          for m in mistakes.load(ws.solutions / assignment)]
    return write_class(ws, assignment, class_, inbox)


@contextmanager
def diagnosis(on: bool):
    """The environment the pool's worker processes (started by each autograde) inherit."""
    before = os.environ.get(DIAGNOSIS_SWITCH)
    if on:
        os.environ.pop(DIAGNOSIS_SWITCH, None)
    else:
        os.environ[DIAGNOSIS_SWITCH] = "off"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(DIAGNOSIS_SWITCH, None)
        else:
            os.environ[DIAGNOSIS_SWITCH] = before


def grade(ws: Workspace, assignment: str, workers: int, sandbox: bool, on: bool):
    """Wall seconds of one forced autograde of the class, and its results."""
    with diagnosis(on):
        start = time.perf_counter()
        results = pipeline.autograde(ws, assignment, progress=False, workers=workers, sandbox=sandbox,
                                     force=True, echo=lambda line: None)
        return time.perf_counter() - start, results


def verdicts(results) -> dict[str, tuple]:
    """student -> (status, score, each test's (score, error))."""
    return {r.student: (str(r.status), r.score, tuple((c.grade_id, c.score, c.error) for c in r.cells))
            for r in results}


def compare_runs(on: dict, off: dict) -> tuple[list[str], int, int, int]:
    """Students scored differently; failing tests; tests whose message differs; messages of the
    diagnosis in the run without it."""
    differ = sorted(s for s in on.keys() | off.keys()
                    if s not in on or s not in off or on[s][:2] != off[s][:2])
    failing = changed = leaked = 0
    for s in on.keys() & off.keys():
        errors_off = {gid: error for gid, _, error in off[s][2]}
        for gid, _, error in on[s][2]:
            if error:
                failing += 1
                changed += errors_off.get(gid, "") != error
        leaked += sum(UNEXPLAINED in error for _, _, error in off[s][2])
    return differ, failing, changed, leaked


def bench_assignment(repo: Path, tmp: Path, assignment: str, repeats: int, workers: int, sandbox: bool):
    ws = Workspace(tmp / assignment, repo=repo)
    pipeline.release(ws, [assignment], course=tmp / assignment / "course")
    inbox = tmp / assignment / "inbox"
    notebooks = make_class(ws, assignment, inbox)
    rejected = pipeline.collect(ws, assignment, inbox).rejected
    if rejected:
        raise SystemExit(f"{assignment}: collect rejected {rejected}")
    times: dict[bool, list[float]] = {True: [], False: []}
    seconds: dict[bool, dict[str, list[float]]] = {True: {}, False: {}}  # student -> worker seconds
    for i in range(repeats):         # which goes first alternates: a drift in the machine hits both alike
        runs: dict[bool, dict] = {}
        for on in ((True, False) if i % 2 == 0 else (False, True)):
            t, results = grade(ws, assignment, workers, sandbox, on)
            times[on].append(t / notebooks)
            for r in results:
                seconds[on].setdefault(r.student, []).append(r.seconds)
            runs[on] = verdicts(results)
        differ, failing, changed, leaked = compare_runs(runs[True], runs[False])
        if differ or leaked:
            for s in differ[:10]:
                print(f"  {assignment} {s}: on {runs[True].get(s, ('-',))[:2]}, off {runs[False].get(s, ('-',))[:2]}")
            if leaked:
                print(f"  {assignment}: {leaked} messages of the diagnosis with it off: "
                      f"{DIAGNOSIS_SWITCH} did not reach the workers")
            return None
    cost = {s: statistics.median(seconds[True][s]) - statistics.median(seconds[False][s]) for s in seconds[True]}
    costliest = max(cost, key=cost.get)
    return dict(assignment=assignment, notebooks=notebooks, failing=failing, changed=changed,
                on=statistics.median(times[True]), off=statistics.median(times[False]),
                costliest=(costliest, cost[costliest]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", action="append", help="repeatable; default: every one with a mistake set")
    parser.add_argument("--repeats", type=int, help="rounds, each grading the class on and off (default 3)")
    parser.add_argument("--workers", type=int, default=pool.default_workers())
    parser.add_argument("--quick", action="store_true", help=f"{' and '.join(QUICK)}, 2 rounds")
    args = parser.parse_args(argv)
    repo = find_repo(Path(__file__).resolve().parent)
    chosen = args.assignment or (list(QUICK) if args.quick else assignments_with_mistakes(repo))
    repeats = args.repeats or (2 if args.quick else 3)
    sandbox = bubblewrap.available()
    box = "on" if sandbox else f"NOT available: {bubblewrap.unavailable_reason()}"
    print(f"{', '.join(chosen)}: the solution and every answer of the mistake set, graded through the engine "
          f"with the diagnosis on and off, {repeats} round(s) interleaved; {os.cpu_count()} cores, "
          f"{args.workers} workers, sandbox {box}")
    tmp = Path(tempfile.mkdtemp(prefix="gradlab-bench-diagnosis-"))
    rows, start = [], time.perf_counter()
    try:
        for assignment in chosen:
            row = bench_assignment(repo, tmp, assignment, repeats, args.workers, sandbox)
            if row is None:
                return 1
            rows.append(row)
            print(f"  {assignment}: done ({time.perf_counter() - start:.0f} s so far)", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n| assignment | notebooks | failing tests | messages the diagnosis changed | s / notebook off "
          "| s / notebook on | growth | costliest diagnosis (worker s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        who, extra = r["costliest"]
        print(f"| {r['assignment']} | {r['notebooks']} | {r['failing']} | {r['changed']} | {r['off']:.2f} "
              f"| {r['on']:.2f} | {100 * (r['on'] / r['off'] - 1):+.1f} % | {who} {extra:+.2f} |")
    n = sum(r["notebooks"] for r in rows)
    off = sum(r["off"] * r["notebooks"] for r in rows)
    on = sum(r["on"] * r["notebooks"] for r in rows)
    print(f"| total | {n} | {sum(r['failing'] for r in rows)} | {sum(r['changed'] for r in rows)} "
          f"| {off / n:.2f} | {on / n:.2f} | {100 * (on / off - 1):+.1f} % | |")
    print(f"\ngrowth of the grading time per notebook with the diagnosis: {100 * (on / off - 1):+.1f} % "
          f"(target ≤ 10 %); scores alike on and off for all {n} notebooks; "
          f"{time.perf_counter() - start:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
