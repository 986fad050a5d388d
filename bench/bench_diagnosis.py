"""Benchmark: what the diagnosis of a failing check costs a graded notebook.

A failing ``checks.compare`` runs :func:`gradlab.diagnosis.explain` (probes, relations to the
reference) before it raises; a passing one never does.  This bench runs one assignment's test
cells, in this process (no kernel: the corpus harness, ``tests/corpus/harness.py``, runs the
notebook's cells with one answer cell replaced), on every answer of the assignment's mistake set
(``solutions/<a>/mistakes``), twice per answer, interleaved: with the diagnosis on, and with it
off (``checks._explain`` answering "nothing found", so a failing check raises its bare
comparison at once).  Both must fail the same tests.

It reports the median, over ``--repeats`` rounds, of the summed time of all test cells (plus the
setup and answer cells they need) over the mistake set, and the ratio on / off.  A kernel-graded
notebook also pays the kernel start, the imports and the figures, which the diagnosis does not
touch: the ratio here is an upper bound of the growth of a notebook's grading time (target of
the diagnosis: at most 10 %).  Nothing is asserted about timings.

Run:  python bench/bench_diagnosis.py [--assignment 04_optimizers] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the corpus harness runs test cells without a kernel

from corpus.harness import outcomes  # noqa: E402

from gradlab import checks  # noqa: E402
from gradlab_grader import mistakes as mistake_sets  # noqa: E402


@contextmanager
def diagnosis_off():
    """Every failing check raises its bare comparison (the diagnosis finds nothing, at no cost)."""
    explain = checks._explain
    checks._explain = lambda *args, **kwargs: None
    try:
        yield
    finally:
        checks._explain = explain


def failed(results) -> list[str]:
    return [gid for gid, shown in results if shown is not None]


def one_pass(entries, off: bool) -> tuple[float, list]:
    """Seconds for the test cells of every mistake, and which tests failed."""
    start, verdicts = time.perf_counter(), []
    for m in entries:
        if off:
            with diagnosis_off():
                verdicts.append(failed(outcomes(m.exercise, m.source)))
        else:
            verdicts.append(failed(outcomes(m.exercise, m.source)))
    return time.perf_counter() - start, verdicts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="04_optimizers")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="two rounds")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    entries = mistake_sets.load(REPO / "solutions" / args.assignment)
    print(f"{args.assignment}: {len(entries)} wrong answers from its mistake set, "
          f"{repeats} rounds, diagnosis on and off interleaved")
    one_pass(entries, off=False)            # warm: imports, the notebook read once
    on_times, off_times = [], []
    for i in range(repeats):        # which goes first alternates: a drift in the machine hits both alike
        if i % 2:
            t_off, v_off = one_pass(entries, off=True)
            t_on, v_on = one_pass(entries, off=False)
        else:
            t_on, v_on = one_pass(entries, off=False)
            t_off, v_off = one_pass(entries, off=True)
        if v_on != v_off:
            print("the diagnosis changed which tests fail:", v_on, v_off)
            return 1
        on_times.append(t_on)
        off_times.append(t_off)
    on, off = statistics.median(on_times), statistics.median(off_times)
    n_failed = sum(len(v) for v in v_on)
    print(f"| diagnosis | median seconds (all test cells, {len(entries)} answers, {n_failed} failing tests) |")
    print("| --- | --- |")
    print(f"| off | {off:.3f} |")
    print(f"| on  | {on:.3f} |")
    print(f"ratio on / off: {on / off:.3f} (in-process; a kernel-graded notebook adds start-up, "
          "imports and figures, so its growth is smaller)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
