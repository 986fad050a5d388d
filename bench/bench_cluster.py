"""Benchmark: grading through a Dask cluster vs the local warm workers, to extrapolate scaling.

One generated class of ``01_derivatives`` (default 20 submissions: perfect, partial, wrong, as
``bench_grading.py`` makes them) is graded, in this run, by:

  pool N     ``gradlab autograde --workers N``: N local warm worker processes (the default backend)
  dask N     ``gradlab autograde --scheduler tcp://…``: a ``dask scheduler`` and N ``dask worker``
             processes (one thread each) on this machine, started before the timing as a real
             cluster would be; the work units travel over TCP, the results come back to the
             one writer

for N = 1 and 2, interleaved and repeated (``--repeats``, best of), and ``dask 2`` once more with
the gradebook in a real PostgreSQL server (when Debian's binaries are present).  Every run must
give every student the same score (exit 1 otherwise).  The writer's own time (prepare + record,
on the head node, serial) is measured too: it bounds the throughput of any cluster size.

Target (issue 13): Dask's overhead against the local pool ≤ 10 % at the same worker count.
Timings are printed, never asserted.

Run:  python bench/bench_cluster.py [--students 20] [--repeats 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_grading import ASSIGNMENT, fresh_workspace, make_class, scores

from gradlab_grader import Workspace, pipeline
from gradlab_grader.kernel import bubblewrap
from gradlab_grader.recording import ledger
from gradlab_grader.workspace import find_repo

DASK = Path(sys.executable).with_name("dask")


class WriterClock:
    """Seconds the head node spends in ``Writer.prepare`` and ``Writer.record`` (this process)."""

    def __init__(self):
        self.seconds, self.calls = 0.0, 0
        for name in ("prepare", "record"):
            original = getattr(ledger.Writer, name)

            def timed(writer, *args, _original=original, _name=name, **kwargs):
                start = time.perf_counter()
                try:
                    return _original(writer, *args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start
                    self.calls += _name == "record"

            setattr(ledger.Writer, name, timed)

    def reset(self):
        self.seconds, self.calls = 0.0, 0

    def per_submission(self) -> float:
        return self.seconds / max(1, self.calls)


class LocalDask:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (grading settings: a unit
    goes only to a free worker)."""

    def __init__(self, root: Path):
        self.root, self.procs, self.workers = root, [], 0
        self.env = os.environ | {"DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
        file = root / "scheduler.json"
        self._start("scheduler", "--port", "0", "--scheduler-file", str(file))
        deadline = time.monotonic() + 120
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.address = json.loads(file.read_text())["address"]

    def _start(self, *args):
        log = (self.root / f"{args[0]}-{len(self.procs)}.log").open("w")
        self.procs.append(subprocess.Popen([str(DASK), *args, "--host", "127.0.0.1", "--no-dashboard"],
                                           env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def add_worker(self):
        from distributed import Client

        self._start("worker", self.address, "--nthreads", "1", "--nworkers", "1")
        self.workers += 1
        with Client(self.address, set_as_default=False, timeout=60) as client:
            client.wait_for_workers(self.workers, timeout=180)

    def close(self):
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def grade(ws: Workspace, clock: WriterClock, **backend) -> tuple[float, float, str]:
    """Wall seconds of one ``gradlab autograde --force`` of the class, the writer's seconds per
    submission, and gradlab's summary line."""
    lines = []
    clock.reset()
    start = time.perf_counter()
    pipeline.autograde(ws, ASSIGNMENT, progress=False, force=True, echo=lines.append, **backend)
    return time.perf_counter() - start, clock.per_submission(), lines[0] if lines else "-"


def postgres_url(tmp: Path):
    """A database on a throw-away PostgreSQL server (tests/services.py), or (None, why not)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    try:
        from services import PostgresServer, postgres_bin
    except ImportError as exc:
        return None, None, f"tests/services.py not importable ({exc})"
    if postgres_bin() is None:
        return None, None, "Debian's postgresql is not installed (make services)"
    root = Path(tempfile.mkdtemp(prefix="gradlab-bench-pg-"))
    server = PostgresServer(root).start()
    return server, server.create_database("bench"), ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="12 students, one repeat, no PostgreSQL row")
    args = parser.parse_args(argv)
    n, repeats = (12, 1) if args.quick else (args.students, args.repeats)
    repo = find_repo(Path(__file__).resolve().parent)
    tmp = Path(tempfile.mkdtemp(prefix="gradlab-bench-cluster-"))
    clock = WriterClock()
    cluster = server = None
    try:
        inbox = tmp / "inbox"
        make_class(Workspace(tmp / "probe", repo=repo), n, inbox)
        print(f"{n} submissions of {ASSIGNMENT}; {os.cpu_count()} cores; sandbox "
              f"{'on' if bubblewrap.available() else 'NOT available: ' + str(bubblewrap.unavailable_reason())}; "
              f"best of {repeats}")
        ws = {"pool": fresh_workspace(tmp / "pool", repo, inbox), "dask": fresh_workspace(tmp / "dask", repo, inbox)}
        (tmp / "cluster").mkdir()
        cluster = LocalDask(tmp / "cluster")
        best: dict[tuple[str, int], tuple[float, float, str]] = {}
        graded: dict[tuple[str, int], dict] = {}
        for workers in (1, 2):
            cluster.add_worker()
            for r in range(repeats):
                order = ("pool", "dask") if r % 2 == 0 else ("dask", "pool")
                for backend in order:
                    options = {"workers": workers} if backend == "pool" else {"scheduler": cluster.address}
                    got = grade(ws[backend], clock, **options)
                    if (backend, workers) not in best or got[0] < best[backend, workers][0]:
                        best[backend, workers] = got
                    graded[backend, workers] = scores(ws[backend])
        pg_note = "skipped (--quick)"
        if not args.quick:
            server, url, pg_note = postgres_url(tmp)
            if url:
                ws_pg = Workspace(tmp / "pg", repo=repo, db_url=url)
                pipeline.release(ws_pg, [ASSIGNMENT], course=tmp / "pg-course")
                pipeline.collect(ws_pg, ASSIGNMENT, inbox)
                best["dask+postgresql", 2] = grade(ws_pg, clock, scheduler=cluster.address)
                graded["dask+postgresql", 2] = scores(ws_pg)

        print(f"\n{'backend':<26} {'workers':>7} {'wall s':>8} {'notebooks / s':>14} {'writer ms / nb':>15}")
        for (backend, workers), (t, writer, _) in best.items():
            print(f"{backend:<26} {workers:>7} {t:>8.1f} {n / t:>14.2f} {1000 * writer:>15.0f}")
        for workers in (1, 2):
            over = best["dask", workers][0] / best["pool", workers][0] - 1
            print(f"dask overhead vs pool, {workers} worker{'s' * (workers > 1)}: "
                  f"{100 * over:+6.1f} %  (target ≤ 10 %)")
        t1, t2 = best["dask", 1][0], best["dask", 2][0]
        writer = max(best["dask", 2][1], best.get(("dask+postgresql", 2), (0, 0))[1])
        per_worker = n / t1
        print(f"dask scaling 1 -> 2 workers: {t1 / t2:.2f}× ({100 * t1 / t2 / 2:.0f} % of linear; this machine "
              f"has {os.cpu_count()} cores shared with the scheduler and the writer)")
        if writer:
            ceiling = 1 / writer
            print(f"head node: the writer spends {1000 * writer:.0f} ms a submission (prepare + record) -> at most "
                  f"{ceiling:.1f} notebooks / s whatever the cluster size, reached at about "
                  f"{ceiling / per_worker:.0f} one-core workers of {per_worker:.2f} notebooks / s each")
            for students in (10_000, 50_000):
                workers = max(1, int(ceiling / per_worker))
                print(f"  extrapolated: {students} submissions on {workers} workers ≈ "
                      f"{students / min(ceiling, workers * per_worker) / 60:.0f} min")
        print(f"postgresql gradebook: {'measured' if ('dask+postgresql', 2) in best else pg_note}")
        print(f"gradlab's own summary (dask, 2 workers): {best['dask', 2][2]}")
        reference = graded["pool", 1]
        disagree = {k: sorted(s for s in reference if got.get(s) != reference[s])
                    for k, got in graded.items()}
        disagree = {k: v for k, v in disagree.items() if v}
        print(f"scores agree for every run: {'yes' if not disagree else 'NO'} ({len(reference)} students)")
        for (backend, workers), students in disagree.items():
            print(f"  {backend} {workers}: {students[:10]}")
        return 1 if disagree else 0
    finally:
        if cluster is not None:
            cluster.close()
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
