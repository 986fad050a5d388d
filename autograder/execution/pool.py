"""Warm workers: N processes, each with its kernels started ahead, executing work units.

A worker process starts once per grading run: it imports nbclient once and keeps one kernel
warming for the next notebook (:class:`gradlab_grader.execution.engine.Kernels`), so no notebook pays for
an interpreter, an nbgrader import or a kernel boot of its own.  The main process is the
writer (:mod:`gradlab_grader.recording.ledger`): it prepares units just ahead of the workers and records
results as they come back.  A worker that dies (the operating system's out-of-memory killer,
say) costs the units it held one retry, then a clear failure; every other grade stands.
:class:`LocalPool` is the local backend of the one grading loop
(:mod:`gradlab_grader.execution.driver`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..status import could_not_grade
from . import engine
from .driver import AHEAD, RETRY, KernelSettings, Retry

_WORKER: dict = {}


def default_workers() -> int:
    """One worker per core this process may use (a kernel keeps one core busy)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _worker_start(settings: KernelSettings) -> None:
    import warnings

    from ..kernel.bubblewrap import SandboxUnavailable

    warnings.simplefilter("ignore", SandboxUnavailable)  # the writer has said so, once
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    kernels = settings.kernels()
    _WORKER.update(loop=loop, kernels=kernels)
    loop.run_until_complete(kernels.warm())
    from multiprocessing import util

    util.Finalize(None, _worker_stop, exitpriority=10)


def _worker_stop() -> None:
    if _WORKER:
        kernels = _WORKER["kernels"]
        _WORKER["loop"].run_until_complete(kernels.close())
        kernels.launcher.close()  # the kernel template, if any


def _worker_execute(unit: engine.WorkUnit) -> engine.UnitResult:
    return _WORKER["loop"].run_until_complete(
        engine.execute_unit(unit, _WORKER["kernels"]))


class LocalPool:
    """The local backend: ``workers`` warm processes on this machine (default: one per core).
    A broken pool (a worker died) is replaced; each unit it held gets one retry."""

    def __init__(self, workers: int | None, settings: KernelSettings):
        self.workers = workers or default_workers()
        self.settings = settings
        self.pool: ProcessPoolExecutor | None = None
        self.attempts: dict[str, int] = {}
        self.ran_on: dict[str, ProcessPoolExecutor] = {}  # student -> the pool running its unit

    def start(self) -> int:
        return self.workers

    def slots(self) -> int:
        return AHEAD * self.workers

    def submit(self, unit: engine.WorkUnit) -> Future:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_worker_start, initargs=(self.settings,))
        self.ran_on[unit.student] = self.pool
        return self.pool.submit(_worker_execute, unit)

    def completed(self, futures: list) -> set:
        return wait(futures, return_when=FIRST_COMPLETED).done

    def failure(self, unit: engine.WorkUnit, exc: BaseException) -> str | Retry:
        if not isinstance(exc, BrokenProcessPool):
            return could_not_grade(f"the grader failed: {type(exc).__name__}: {exc}")
        if self.ran_on.pop(unit.student, None) is self.pool is not None:
            # the pool is gone (every unit it held fails so): the next unit starts a new one
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
        self.attempts[unit.student] = self.attempts.get(unit.student, 0) + 1
        if self.attempts[unit.student] < 2:
            return RETRY
        return could_not_grade("the grading worker died twice while running this submission "
                               "(the machine ran out of memory?)")

    def lost(self, pending: int) -> Exception:
        return RuntimeError(f"{pending} submissions were not graded")  # a local pool loses none

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
