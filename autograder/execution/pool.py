"""Warm workers: N processes, each with its kernels started ahead, executing work units.

A worker process starts once per grading run: it imports nbclient once and keeps one kernel
warming for the next notebook (:class:`gradlab_grader.execution.engine.Kernels`), so no notebook pays for
an interpreter, an nbgrader import or a kernel boot of its own.  The main process is the
writer (:mod:`gradlab_grader.recording.ledger`): it prepares units just ahead of the workers and records
results as they come back.  A worker that dies (the operating system's out-of-memory killer,
say) costs the units it held one retry, then a clear failure; every other grade stands.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from ..kernel import limits as kernellimits
from ..status import FAILED, Status, could_not_grade
from . import engine

_WORKER: dict = {}


def default_workers() -> int:
    """One worker per core this process may use (a kernel keeps one core busy)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _worker_start(sandbox, hidden, figures, preload=None) -> None:
    import warnings

    from ..kernel.sandbox import SandboxUnavailable

    warnings.simplefilter("ignore", SandboxUnavailable)  # the writer has said so, once
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    kernels = engine.Kernels(engine.default_launcher(sandbox, hidden, preload), figures=figures)
    _WORKER.update(loop=loop, kernels=kernels)
    loop.run_until_complete(kernels.warm())
    from multiprocessing import util

    util.Finalize(None, _worker_stop, exitpriority=10)


def _worker_stop() -> None:
    if _WORKER:
        kernels = _WORKER["kernels"]
        _WORKER["loop"].run_until_complete(kernels.close())
        close = getattr(kernels.launcher, "close", None)
        if close:
            close()  # the kernel template, if any


def _worker_execute(unit: engine.WorkUnit) -> engine.UnitResult:
    return _WORKER["loop"].run_until_complete(
        engine.execute_unit(unit, _WORKER["kernels"]))


@dataclass
class RunStats:
    graded: int = 0
    failed: int = 0
    skipped: int = 0  # already recorded, not graded again
    seconds: float = 0.0
    workers: int = 0
    sandboxed: bool | None = None
    whole_kernel: bool | None = None  # memory and working copy bounded per kernel (kernellimits)
    figures: bool = True
    notebook_seconds: list[float] = field(default_factory=list)

    def finished(self, student: str, record: dict, on_record=None, progress=None) -> None:
        """Count one recorded submission and tell the callers that want to know."""
        if Status(record["status"]) == FAILED:
            self.failed += 1
        else:
            self.graded += 1
        if on_record:
            on_record(record)
        if progress:
            progress(student)

    def summary(self) -> str:
        done = self.graded + self.failed
        rate = f", {self.seconds / done:.2f} s a submission" if done else ""
        sandbox = {True: "sandbox on", False: "sandbox off", None: "nothing executed"}[self.sandboxed]
        skipped = f"; {self.skipped} already recorded, kept" if self.skipped else ""
        figures = "" if self.figures else ", figures not drawn"
        limits = {True: ", limits per kernel", False: ", limits per process only",
                  None: ""}[self.whole_kernel if self.sandboxed is not None else None]
        return (f"graded {self.graded}, could not grade {self.failed}{skipped} — {self.seconds:.1f} s wall "
                f"time{rate} ({self.workers} workers, {sandbox}{limits}{figures})")


def run(writer, students: list[str], workers: int | None = None, sandbox=None, hidden=(),
        progress=None, on_record=None, figures: bool = True, preload=None) -> RunStats:
    """Grade ``students`` with ``workers`` warm processes; ``writer`` prepares and records.
    ``sandbox``, ``hidden`` and ``preload``: see :func:`gradlab_grader.execution.engine.default_launcher`;
    ``figures``: whether the kernels draw figures
    (:meth:`gradlab_grader.workspace.Workspace.draws_figures`).

    ``progress`` is called with each student as its result is recorded; ``on_record`` with
    each ledger record.
    """
    stats = RunStats(workers=workers or default_workers(), figures=figures)
    start = time.perf_counter()
    queue = deque(students)
    attempts: dict[str, int] = {}
    ctx = multiprocessing.get_context("spawn")
    pool = None
    inflight: dict = {}

    def finish(student, record):
        stats.finished(student, record, on_record, progress)

    try:
        while queue or inflight:
            if pool is None:
                pool = ProcessPoolExecutor(stats.workers, mp_context=ctx, initializer=_worker_start,
                                           initargs=(sandbox, tuple(map(str, hidden)), figures, preload))
            # keep every worker busy and one unit ready behind each
            while queue and len(inflight) < 2 * stats.workers:
                student = queue.popleft()
                fingerprints = writer.ledger.fingerprints(student)
                unit, problems = writer.prepare(student)
                if not unit.notebooks:  # nothing to execute: record what was found at once
                    finish(student, writer.record(unit, None, problems, fingerprints))
                    continue
                inflight[pool.submit(_worker_execute, unit)] = (unit, problems, fingerprints)
            if not inflight:
                continue
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for future in done:
                unit, problems, fingerprints = inflight.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    attempts[unit.student] = attempts.get(unit.student, 0) + 1
                    if attempts[unit.student] < 2:
                        queue.appendleft(unit.student)
                    else:
                        finish(unit.student, writer.record(unit, None, problems + [
                            could_not_grade("the grading worker died twice while running this "
                                            "submission (the machine ran out of memory?)")], fingerprints))
                    continue
                except Exception as exc:
                    finish(unit.student, writer.record(unit, None, problems + [
                        could_not_grade(f"the grader failed: {type(exc).__name__}: {exc}")], fingerprints))
                    continue
                stats.sandboxed = result.sandboxed
                stats.whole_kernel = kernellimits.available()   # the workers run on this machine
                stats.notebook_seconds.append(result.seconds)
                finish(unit.student, writer.record(unit, result, problems, fingerprints))
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done if f.done()):
                for item in inflight.values():  # the pool is gone: its other units go back too
                    queue.appendleft(item[0].student)
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = None
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    stats.seconds = time.perf_counter() - start
    return stats
