"""Benchmark: the similarity check on a generated class of 1,000 submissions.

gradlab's check (an inverted index of the rare normalised runs, so only answers that share
something rare are ever paired) against the straightforward way: every pair of answers scored
with the same normalisation and the same score.  Both must list the same pairs; then both are
timed once each (the naive one is quadratic and takes long enough that one run is telling).

The class: honest answers to ``numerical_gradient`` from tests/autograder/synthetic_answers.py,
plus a disguised copy of one student's answer and a disguised copy of the reference library's.

Run:  python bench/bench_similarity.py [--students 1000] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "autograder"))

from synthetic_answers import disguise, honest_class  # noqa: E402

from gradlab_grader.outputs import similarity as sim  # noqa: E402

EXERCISE = "numerical_gradient"


def naive(answers, reference):
    """Score every pair: the same runs, weights and threshold, no index."""
    docs = {s: sim.shingles(sim.normalise(c[EXERCISE])) for s, c in answers.items()}
    docs.update({d: sim.shingles(sim.normalise(src)) for d, src in reference.items()})
    students = len(answers)
    limit = max(2, int(sim.COMMON * students))
    df = {}
    for runs in docs.values():
        for run in runs:
            df[run] = df.get(run, 0) + 1
    weight = {r: 1.0 / max(1, n - 1) for r, n in df.items() if n <= limit}
    rare = {d: {r for r in runs if r in weight} for d, runs in docs.items()}
    found = set()
    for a, b in combinations(sorted(docs), 2):
        if a.startswith(sim.REFERENCE) and b.startswith(sim.REFERENCE):
            continue
        if min(len(rare[a]), len(rare[b])) < sim.MIN_SHINGLES:
            continue
        union = sum(weight[r] for r in rare[a] | rare[b])
        if union and sum(weight[r] for r in rare[a] & rare[b]) / union >= sim.THRESHOLD:
            found.add(frozenset((a, b)))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="200 students")
    args = parser.parse_args(argv)
    n = 200 if args.quick else args.students
    rng = np.random.default_rng(0)
    answers = honest_class(n, seed=0)
    reference = sim.reference_functions(ROOT / "lib" / "gradlab")
    answers["copycat"] = {EXERCISE: disguise(answers["s0042"][EXERCISE], rng)}
    answers["from_reference"] = {
        EXERCISE: disguise(reference[f"{sim.REFERENCE}calculus.numerical_gradient"], rng)}

    start = time.perf_counter()
    pairs = sim.find_similar(answers, reference=reference)
    indexed = time.perf_counter() - start
    start = time.perf_counter()
    expected = naive(answers, reference)
    quadratic = time.perf_counter() - start

    got = {frozenset((p.a, p.b)) for p in pairs}
    if got != expected:
        print(f"the two versions disagree: index {sorted(map(sorted, got))} vs "
              f"all pairs {sorted(map(sorted, expected))}")
        return 1
    print(f"{n + 2} submissions, {len(reference)} reference functions; pairs listed: "
          + ", ".join(f"{p.a}~{p.b} ({p.score:.2f})" for p in pairs))
    print(f"| version | time | ratio |\n| --- | --- | --- |\n"
          f"| all pairs (naive) | {quadratic:.2f} s | 1.00 |\n"
          f"| gradlab (index of rare runs) | {indexed:.2f} s | {quadratic / indexed:.1f}x faster |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
