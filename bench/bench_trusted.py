"""Benchmark and oracle: every test cell decided in the student's kernel and by the trusted checker.

For each assignment (default: all; ``--quick``: 02_chain_rule, the hardest: graphs of Value nodes,
Dual numbers, closures, errors inside the student's methods) the solution notebook and each answer
of its mistake set run in a fresh kernel; every test cell runs twice, first through
:func:`gradlab_grader.execution.trusted.run_test_cell` (the grader's process, the student's
functions as proxies), then in the kernel as the student's notebook runs it
(``tests/autograder/trusted_oracle.py``).  Both must decide alike — the same pass or fail and the
same error line — except for an answer that calls the reference (``hint: tripwire``): the
in-kernel tripwire fails it, the checker passes it (the inspection of the answer's code flags it).
Reported: test cells agreeing, and the median time of a test cell each way.  Exit 1 on any other
difference.  Timings are printed, never judged.

Run:  python bench/bench_trusted.py [--quick] [assignment ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "autograder"))  # the oracle's harness

import trusted_oracle  # noqa: E402

from gradlab_grader import mistakes  # noqa: E402


def check(assignment: str) -> tuple[bool, str]:
    runs = trusted_oracle.runs(assignment)
    calls_reference = {m.name for m in mistakes.load(REPO / "solutions" / assignment) if m.flagged_only}
    outcomes = [o for r in runs for o in r.outcomes]
    wrong = [(r.label, o.cell) for r in runs if r.label not in calls_reference for o in r.disagreements()]
    ok = (not wrong
          and all(o.kernel == (True, None) for o in runs[0].outcomes)           # the solution passes
          and all(any(not o.kernel[0] for o in r.outcomes) for r in runs[1:])   # every mistake fails
          and all(o.kernel[1].endswith("(check: tripwire)") and o.trusted[0]
                  for r in runs if r.label in calls_reference for o in r.disagreements()))
    agree = sum(o.kernel == o.trusted for o in outcomes)
    line = (f"{assignment:<20} {agree:>5} / {len(outcomes):<5} {len(runs):>4}   "
            f"{statistics.median(o.kernel_s for o in outcomes) * 1000:>7.0f}   "
            f"{statistics.median(o.trusted_s for o in outcomes) * 1000:>7.0f}"
            + ("" if ok else f"   DIFFERENT: {wrong[:3]}"))
    return ok, line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--quick", action="store_true", help="02_chain_rule only")
    args = parser.parse_args(argv)
    names = args.assignments or (["02_chain_rule"] if args.quick else sorted(
        p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists()))
    print(f"{'assignment':<20} {'agree / cells':<13} {'notebooks':>9}   kernel ms  trusted ms (median a test cell)")
    ok = True
    for name in names:
        good, line = check(name)
        ok = ok and good
        print(line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
