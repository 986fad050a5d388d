"""Grading on a Dask cluster: the same work units, executed on Dask workers anywhere.

``gradlab autograde A --scheduler tcp://HOST:PORT`` replaces the local warm workers
(:mod:`gradlab_grader.execution.pool`) with the workers of a running Dask distributed cluster; nothing
else changes.  The head node (where ``gradlab`` runs) stays the one writer
(:mod:`gradlab_grader.recording.ledger`): it prepares each :class:`~gradlab_grader.execution.engine.WorkUnit` just
ahead of the workers, submits it, and records each
:class:`~gradlab_grader.execution.engine.UnitResult` as it completes (``distributed.as_completed``), so
the progress bar, the summary, the ledger and the gradebook are those of a local run:
:class:`DaskCluster` is the cluster backend of the one grading loop
(:mod:`gradlab_grader.execution.driver`).

No shared file system is assumed: a unit carries the sanitised notebooks, the submission's
other files and the instructor's data files; its result carries the executed notebooks back.
The gradebook, the sources and the workspace never leave the head node.  A worker needs only
gradlab installed (the same version as the head: the unit is unpickled there) and, for the
sandbox, bubblewrap.

Each Dask worker keeps warm kernels between units: :class:`GradingWorker`, a Dask
``WorkerPlugin``, owns one :class:`~gradlab_grader.execution.engine.Kernels` per worker thread, started
when the plugin is set up, and an event loop of its own on which the kernels run (the
worker's own loop keeps its heartbeats).

Faults are Dask's business, with gradlab's reading of the outcome:

* a worker that dies while running a unit (out of memory, preempted, killed) — the scheduler
  gives the unit to another worker; nothing is recorded twice, since only the head records
  and it records each unit when its one future completes;
* a unit whose workers keep dying — after the scheduler's ``allowed-failures`` (Dask's
  default 3; ``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES`` where the scheduler starts) the
  future fails with ``KilledWorker`` and the submission is recorded as *could not be graded*
  (it stopped N workers), for a human to review — never as a zero; every other grade stands;
* an exception inside the worker's own code (not the student's: that is caught per cell) is
  retried once on the cluster (``retries=1``), then recorded as the grader's failure;
* losing the scheduler stops the run with what was recorded kept; the rest stays pending
  for the next ``gradlab autograde``.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid
import warnings

from ..status import could_not_grade
from . import engine
from .driver import AHEAD, LOST, KernelSettings, Lost

# Seconds the head waits for the scheduler to answer, and for the first workers to join.
CONNECT_TIMEOUT = 30
WORKERS_TIMEOUT = 300
# Retries of a unit whose worker-side code raised (Dask's ``retries=``); a dead worker is
# handled by the scheduler's reassignment instead, up to its ``allowed-failures``.
RETRIES = 1


class ClusterUnavailable(RuntimeError):
    """The scheduler cannot be reached, has no workers, or was lost; the message says what to do."""


PLUGIN = "gradlab-grading"  # the plugin's name on each worker


def __getattr__(name):
    # GradingWorker subclasses distributed's WorkerPlugin: made on first use, so that importing
    # this module imports no Dask (whose import sets warning filters)
    if name == "GradingWorker":
        from distributed import WorkerPlugin

        cls = type("GradingWorker", (_GradingWorker, WorkerPlugin),
                   {"__module__": __name__, "__qualname__": "GradingWorker", "__doc__": _GradingWorker.__doc__})
        globals()["GradingWorker"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _GradingWorker:
    """``GradingWorker``, a Dask worker plugin: warm kernels on each worker, kept between units.

    ``setup`` starts an event loop in a thread of its own and one
    :class:`~gradlab_grader.execution.engine.Kernels` per worker thread, each with a kernel warming;
    :func:`execute` borrows one for a unit and gives it back.  ``settings``: how the kernels are
    made (:class:`~gradlab_grader.execution.driver.KernelSettings`; hidden paths absent on a worker
    are ignored).
    """

    name = PLUGIN
    idempotent = False  # registering again (a new run) replaces the plugin: new settings, fresh kernels

    def __init__(self, settings: KernelSettings):
        self.settings = settings

    def __getstate__(self):
        return {"settings": self.settings}

    def __setstate__(self, state):
        self.__dict__.update(state)

    async def setup(self, worker):
        from ..kernel.bubblewrap import SandboxUnavailable

        warnings.simplefilter("ignore", SandboxUnavailable)  # the result says so, per submission
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gradlab-kernels", daemon=True)
        self.thread.start()
        self.idle: queue.SimpleQueue = queue.SimpleQueue()
        launcher = self.launcher = self.settings.launcher()  # one kernel template per worker
        self.all = [self.settings.kernels(launcher) for _ in range(max(1, worker.state.nthreads))]
        for kernels in self.all:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(kernels.warm(), self.loop))
            self.idle.put(kernels)

    async def teardown(self, worker):
        loop = getattr(self, "loop", None)
        if loop is None:
            return
        for kernels in self.all:
            try:
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(kernels.close(), loop))
            except Exception:
                pass
        # the kernel template was started on the kernels' loop thread: stop it there too
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
            asyncio.to_thread(self.launcher.close), loop))
        loop.call_soon_threadsafe(loop.stop)

    def execute(self, unit: engine.WorkUnit) -> engine.UnitResult:
        kernels = self.idle.get()
        try:
            return asyncio.run_coroutine_threadsafe(
                engine.execute_unit(unit, kernels), self.loop).result()
        finally:
            self.idle.put(kernels)


def execute(unit: engine.WorkUnit) -> engine.UnitResult:
    """The task each unit becomes on the cluster: run it on this worker's warm kernels."""
    from distributed import get_worker

    plugin = get_worker().plugins[PLUGIN]
    assert isinstance(plugin, _GradingWorker), plugin
    return plugin.execute(unit)


class ClusterWarning(UserWarning):
    """The cluster runs, but a setting of its scheduler works against grading."""


def connect(scheduler: str, timeout: float | None = None):
    """A ``distributed.Client`` of ``scheduler``, or ClusterUnavailable saying what to do."""
    from distributed import Client

    try:
        return Client(scheduler, timeout=timeout or CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterUnavailable(
            f"could not reach the Dask scheduler at {scheduler} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no answer'}); start one with "
            f"`dask scheduler` and workers with `dask worker {scheduler}`, or check the address") from None


def check_scheduler(client, scheduler: str) -> None:
    """Warn when the scheduler queues units on busy workers (``worker-saturation`` above 1.0,
    Dask's default 1.1): a worker that dies then counts against the unit waiting behind the one
    it ran too, and an innocent submission could reach ``allowed-failures``."""
    try:
        saturation = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION)
    except Exception:  # a scheduler that refuses to run code: nothing to check
        return
    if saturation > 1.0:
        warnings.warn(f"the Dask scheduler at {scheduler} sends units to busy workers "
                      f"(distributed.scheduler.worker-saturation = {saturation}): a worker that dies also "
                      "counts against the unit queued behind the one it ran. Start the scheduler with "
                      "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0", ClusterWarning, stacklevel=3)


class _Threads:
    """Worker threads on the cluster, asked of the scheduler at most every ``every`` seconds
    (workers come and go: a batch queue starts them late, a dead one is restarted)."""

    def __init__(self, client, every: float = 2.0):
        self.client, self.every, self.at, self.n = client, every, float("-inf"), 1

    def __call__(self) -> int:
        if time.monotonic() - self.at > self.every:
            self.n = max(1, sum(self.client.nthreads().values()))
            self.at = time.monotonic()
        return self.n


class DaskCluster:
    """The cluster backend: the workers of the Dask scheduler at ``scheduler``
    (``tcp://HOST:PORT``).  ``workers``: how many Dask workers to wait for before starting
    (default 1; a cluster from a batch queue comes up slowly).  ``client``: an existing
    ``distributed.Client`` to use instead of connecting (then left open)."""

    def __init__(self, scheduler: str, settings: KernelSettings, workers: int | None = None, client=None):
        self.scheduler, self.settings = scheduler, settings
        self.wanted = max(1, workers or 1)
        self.own = client is None
        self.client = client
        self.run_id = uuid.uuid4().hex[:8]
        self.attempts: dict[str, int] = {}

    def start(self) -> int:
        from distributed import as_completed

        if self.client is None:
            self.client = connect(self.scheduler)
        try:
            self.client.wait_for_workers(self.wanted, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            raise ClusterUnavailable(
                f"no {self.wanted} Dask workers joined the scheduler at {self.scheduler} within "
                f"{WORKERS_TIMEOUT} s; start them with `dask worker {self.scheduler}`") from None
        check_scheduler(self.client, self.scheduler)
        self.client.register_plugin(__getattr__("GradingWorker")(self.settings), name=PLUGIN)
        self.threads = _Threads(self.client)
        self.as_completed = as_completed(loop=self.client.loop)
        return self.threads()

    def slots(self) -> int:
        return AHEAD * self.threads()

    def submit(self, unit: engine.WorkUnit):
        student = unit.student
        self.attempts[student] = self.attempts.get(student, 0) + 1
        future = self.client.submit(execute, unit, pure=False, retries=RETRIES,
                                    key=f"gradlab-{unit.assignment}-{student}-{self.run_id}-{self.attempts[student]}")
        self.as_completed.add(future)
        return future

    def completed(self, futures: list) -> list:
        return [next(self.as_completed)]

    def failure(self, unit: engine.WorkUnit, exc: BaseException) -> str | Lost:
        from concurrent.futures import CancelledError

        from distributed.scheduler import KilledWorker

        if isinstance(exc, KilledWorker):
            return could_not_grade(
                f"it stopped {exc.allowed_failures + 1} workers (each worker process died while running "
                "this submission: out of memory, or killed); review it by hand, or grade it alone with "
                f"`gradlab autograde {unit.assignment} -s {unit.student}`")
        if isinstance(exc, CancelledError):
            return LOST  # the scheduler forgot it: left pending, never a grade
        return could_not_grade(f"the grader failed on a Dask worker: {type(exc).__name__}: {exc}")

    def lost(self, pending: int) -> Exception:
        return ClusterUnavailable(
            f"lost the Dask scheduler at {self.scheduler} (or it cancelled the work) with {pending} "
            "submissions not graded; what was recorded is kept: run `gradlab autograde` again to "
            "grade the rest")

    def close(self) -> None:
        if self.own and self.client is not None:
            self.client.close()
