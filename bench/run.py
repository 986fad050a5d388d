"""Run every benchmark in bench/ (each ``bench_*.py``), one after another, and print their tables.

Each benchmark runs in its own Python process (so thread settings and imports of one cannot
leak into the next) with the interpreter running this script.  Timings are only printed, never
judged: the exit status is non-zero only when a benchmark crashes or its versions disagree on
what they compute.

Usage:  python bench/run.py [--quick] [name ...]
        names select benchmarks by substring, e.g. ``python bench/run.py mlp``; ``--quick`` is
        passed on to every benchmark (fewer repeats, headline configuration only).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough = [a for a in argv if a.startswith("-")]
    names = [a for a in argv if not a.startswith("-")]
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if any(n in s.stem for n in names)]
    if not scripts:
        print(f"no benchmark matches {names}; available: "
              f"{[s.stem for s in sorted(HERE.glob('bench_*.py'))]}")
        return 2
    failed = []
    for script in scripts:
        print(f"=== {script.stem} ===", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *passthrough])
        print(f"--- {script.stem}: exit {code}, {time.perf_counter() - start:.1f} s\n", flush=True)
        if code != 0:
            failed.append(script.stem)
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
