"""The one grading loop: the writer prepares, a backend executes, the writer records.

::

    prepare (writer)  ->  backend.submit(unit) -> future  ->  record (writer), as futures complete

The writer (:mod:`gradlab_grader.recording.ledger`) prepares each submission just ahead of the
backend, keeping ``backend.slots()`` units in flight (one running and one ready behind it per
worker), and records each result as its future completes: the progress bar, the closing summary
(:class:`RunStats`) and the ledger (a killed run resumes with what is pending) are the same
whatever runs the units.  Two backends implement :class:`Backend`: warm local worker processes
(:class:`gradlab_grader.execution.pool.LocalPool`) and a Dask cluster
(:class:`gradlab_grader.execution.cluster.DaskCluster`).  What a failed future means (retry the
unit, give it up with a reason, or stop: the cluster was lost) is the backend's to say.
A third, :class:`InProcess`, grades one submission in this process
(:func:`gradlab_grader.pipeline.grade_submission`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..status import FAILED, Status, could_not_grade
from . import engine

if TYPE_CHECKING:
    from ..kernel.launcher import KernelLauncher

# Units in flight per worker: one running, one ready behind it.
AHEAD = 2


@dataclass(frozen=True)
class KernelSettings:
    """How a worker makes its kernels, the same on every backend (picklable: it travels to the
    workers).  ``sandbox``, ``hidden`` and ``preload``: see
    :func:`gradlab_grader.kernel.launcher.launcher`; ``figures``: whether the kernels draw
    figures (:meth:`gradlab_grader.workspace.Workspace.draws_figures`)."""

    sandbox: bool | None = None
    hidden: tuple[str, ...] = ()
    figures: bool = True
    preload: tuple[str, ...] | None = None

    @classmethod
    def of(cls, sandbox=None, hidden=(), figures: bool = True, preload=None) -> KernelSettings:
        return cls(sandbox, tuple(map(str, hidden)), figures, None if preload is None else tuple(preload))

    def launcher(self) -> KernelLauncher:
        """Where a worker's kernels come from (with its kernel template, if any)."""
        from ..kernel.launcher import launcher

        return launcher(self.sandbox, self.hidden, None if self.preload is None else list(self.preload))

    def kernels(self, launcher=None) -> engine.Kernels:
        """A worker's warm kernels, one always booting for the next notebook, from ``launcher``
        (default: a launcher of their own)."""
        return engine.Kernels(launcher or self.launcher(), figures=self.figures)


class Retry:
    """A backend's answer to a failed future: run the unit again."""


class Lost:
    """A backend's answer to a failed future: the backend lost the unit (and cannot run more);
    the submission stays pending for the next run."""


RETRY, LOST = Retry(), Lost()


class Future(Protocol):
    def result(self) -> engine.UnitResult: ...


@runtime_checkable
class Backend(Protocol):
    """What runs units for the driver: local warm workers, or a Dask cluster."""

    def start(self) -> int:
        """Get ready (workers up); return how many workers run units."""

    def slots(self) -> int:
        """How many units may be in flight now (workers come and go on a cluster)."""

    def submit(self, unit: engine.WorkUnit) -> Future:
        """Start executing ``unit``; its future's ``result()`` is the UnitResult."""

    def completed(self, futures: list[Any]) -> Iterable[Any]:
        """Block until at least one of ``futures`` is done; give the done ones."""

    def failure(self, unit: engine.WorkUnit, exc: BaseException) -> str | Retry | Lost:
        """What a future that raised ``exc`` means: a problem to record (why the submission
        could not be graded), RETRY or LOST."""

    def lost(self, pending: int) -> Exception:
        """The error that ends a run in which units were LOST (``pending`` not graded)."""

    def close(self) -> None: ...


class InProcess:
    """The backend of one submission graded in this process (no worker, no pool): the unit runs
    on kernels of this process's own, stopped at :meth:`close`."""

    def __init__(self, settings: KernelSettings):
        self.settings = settings
        self.loop: asyncio.AbstractEventLoop | None = None
        self.kernels: engine.Kernels | None = None

    def start(self) -> int:
        return 1

    def slots(self) -> int:
        return 1

    def submit(self, unit: engine.WorkUnit) -> concurrent.futures.Future:
        if self.loop is None or self.kernels is None:
            self.loop, self.kernels = asyncio.new_event_loop(), self.settings.kernels()
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(self.loop.run_until_complete(
                engine.execute_unit(unit, self.kernels)))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def completed(self, futures: list) -> list:
        return futures

    def failure(self, unit: engine.WorkUnit, exc: BaseException) -> str:
        return could_not_grade(f"the grader failed: {type(exc).__name__}: {exc}")

    def lost(self, pending: int) -> Exception:
        return RuntimeError(f"{pending} submissions were not graded")  # never: nothing is lost here

    def close(self) -> None:
        if self.loop is not None and self.kernels is not None:
            try:
                self.loop.run_until_complete(self.kernels.close())
            finally:
                self.kernels.launcher.close()
                self.loop.close()
                self.loop = self.kernels = None


@dataclass
class RunStats:
    graded: int = 0
    failed: int = 0
    skipped: int = 0  # already recorded, not graded again
    seconds: float = 0.0
    workers: int = 0
    sandboxed: bool | None = None  # every executed unit ran in the sandbox (None: none ran)
    whole_kernel: bool | None = None  # ... and with limits per kernel (kernel.limits), where it ran
    figures: bool = True
    notebook_seconds: list[float] = field(default_factory=list)

    def executed(self, result: engine.UnitResult) -> None:
        """Count what a worker reported: the summary says "sandbox on" (and "limits per
        kernel") only when every unit so far ran so, wherever it ran."""
        self.sandboxed = result.sandboxed and self.sandboxed is not False
        self.whole_kernel = result.whole_kernel and self.whole_kernel is not False
        self.notebook_seconds.append(result.seconds)

    def finished(self, record: dict) -> None:
        """Count one recorded submission."""
        if Status(record["status"]) == FAILED:
            self.failed += 1
        else:
            self.graded += 1

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


@dataclass
class _InFlight:
    unit: engine.WorkUnit
    problems: list[str]
    fingerprints: dict


def run(writer, students: list[str], backend: Backend, progress: Callable[[str], Any] | None = None,
        on_record: Callable[[dict], Any] | None = None, figures: bool = True) -> RunStats:
    """Grade ``students`` on ``backend``; ``writer`` prepares and records, in this process only.

    ``progress`` is called with each student as its result is recorded; ``on_record`` with
    each ledger record; ``figures`` is said in the summary.
    """
    stats = RunStats(figures=figures)
    if not students:
        return stats
    start = time.perf_counter()
    queue = deque(students)
    inflight: dict[Any, _InFlight] = {}
    lost: list[str] = []

    def record(job: _InFlight, result: engine.UnitResult | None, problems: list[str]) -> None:
        entry = writer.record(job.unit, result, job.problems + problems, job.fingerprints)
        stats.finished(entry)
        if on_record:
            on_record(entry)
        if progress:
            progress(job.unit.student)

    try:
        stats.workers = backend.start()
        while queue or inflight:
            while queue and not lost and len(inflight) < backend.slots():
                job = _prepare(writer, queue.popleft())
                if not job.unit.notebooks:  # nothing to execute: record what was found at once
                    record(job, None, [])
                else:
                    inflight[backend.submit(job.unit)] = job
            if not inflight:
                break
            for job, outcome in _outcomes(backend, inflight):
                if isinstance(outcome, engine.UnitResult):
                    stats.executed(outcome)
                    record(job, outcome, [])
                elif outcome is RETRY:
                    queue.appendleft(job.unit.student)
                elif outcome is LOST:
                    lost.append(job.unit.student)
                else:
                    record(job, None, [outcome])
        if lost:
            raise backend.lost(len(lost) + len(queue))
    finally:
        stats.seconds = time.perf_counter() - start
        backend.close()
    return stats


def _prepare(writer, student: str) -> _InFlight:
    fingerprints = writer.ledger.fingerprints(student)  # before prepare: what is graded is what is kept
    unit, problems = writer.prepare(student)
    return _InFlight(unit, problems, fingerprints)


def _outcomes(backend: Backend, inflight: dict) -> Iterator[tuple[_InFlight, Any]]:
    """Each completed future with its job and what it came to: a UnitResult, or the backend's
    reading of its failure."""
    for future in list(backend.completed(list(inflight))):
        job = inflight.pop(future)
        try:
            outcome: Any = future.result()
        except BaseException as exc:  # noqa: BLE001 (every failure is the backend's to read)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            outcome = backend.failure(job.unit, exc)
        yield job, outcome
