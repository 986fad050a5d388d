"""The one grading driver (prepare -> submit -> record) on a backend that runs no kernel.

A writer that records in memory and an executor that answers at once stand in for the
gradebook and the warm workers, so what is checked is the driver's own bookkeeping: every
student recorded once, the closing summary, a worker that dies.
"""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import pytest

from gradlab_grader.execution import engine, pool


class Ledger:
    def fingerprints(self, student):
        return {"files": student}


class Writer:
    """prepare/record as ledger.Writer does them, in memory."""

    def __init__(self, empty=()):
        self.ledger = Ledger()
        self.empty = set(empty)
        self.records: dict[str, list] = {}

    def prepare(self, student):
        notebooks = [] if student in self.empty else [engine.NotebookWork("nb", "{}")]
        return engine.WorkUnit("a1", student, notebooks), []

    def record(self, unit, result, problems, fingerprints):
        status = "graded" if result is not None and not problems else "could not be graded"
        self.records.setdefault(unit.student, []).append((result, problems))
        return {"status": status}


def settled(outcome) -> Future:
    """A future already done: ``outcome`` is its result, or the exception it raises."""
    future: Future = Future()
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
    return future


class Executor:
    """ProcessPoolExecutor's part the local backend uses, answering in this process: each
    student's result says what ``how`` gives for it (a UnitResult, or an exception raised)."""

    made: list = []

    def __init__(self, workers, mp_context=None, initializer=None, initargs=()):
        self.workers = workers
        Executor.made.append(self)

    def submit(self, fn, unit):
        return settled(Executor.how(unit.student))

    def shutdown(self, wait=True, cancel_futures=False):
        pass


@pytest.fixture
def local(monkeypatch):
    monkeypatch.setattr(pool, "ProcessPoolExecutor", Executor)
    Executor.made = []

    def grade(students, how, workers=2, **kw):
        Executor.how = staticmethod(how)
        writer = Writer(kw.pop("empty", ()))
        recorded = []
        stats = grade_locally(writer, students, workers, recorded)
        return writer, stats, recorded

    return grade


def grade_locally(writer, students, workers, recorded):
    from gradlab_grader.execution import driver

    backend = pool.LocalPool(workers, driver.KernelSettings(sandbox=None))
    return driver.run(writer, students, backend, progress=recorded.append)


def result(student, sandboxed=True, whole_kernel=True, seconds=1.0):
    return engine.UnitResult("a1", student, seconds=seconds, sandboxed=sandboxed, whole_kernel=whole_kernel)


@pytest.mark.parametrize("sandboxed", [
    [True, False, True],    # one worker without the sandbox, among others with it
    [False, True],
    [True, True, False],
])
def test_the_summary_says_sandbox_on_only_when_every_unit_ran_in_it(local, sandboxed):
    students = [f"s{i}" for i in range(len(sandboxed))]
    by = dict(zip(students, sandboxed, strict=True))
    _, stats, recorded = local(students, lambda s: result(s, sandboxed=by[s]), workers=1)
    assert sorted(recorded) == students
    assert "sandbox off" in stats.summary() and "sandbox on" not in stats.summary()


def test_whole_kernel_limits_are_what_the_workers_reported(local):
    # the workers' machine, not the writer's, decides whether limits held per kernel
    whole = {"s0": True, "s1": False}
    _, stats, _ = local(list(whole), lambda s: result(s, whole_kernel=whole[s]), workers=1)
    assert "sandbox on, limits per process only" in stats.summary()
    _, stats, _ = local(["s0"], lambda s: result(s, whole_kernel=True), workers=1)
    assert "sandbox on, limits per kernel" in stats.summary()


def test_every_student_is_recorded_once_and_counted(local):
    students = [f"s{i}" for i in range(7)]
    failing = {"s3"}
    writer, stats, recorded = local(
        students, lambda s: RuntimeError("boom") if s in failing else result(s, seconds=2.0),
        workers=2, empty=["s5"])
    assert sorted(recorded) == students
    assert {s: len(r) for s, r in writer.records.items()} == dict.fromkeys(students, 1)
    assert (stats.graded, stats.failed) == (5, 2)
    assert "the grader failed: RuntimeError: boom" in writer.records["s3"][0][1][0]
    assert writer.records["s5"][0][0] is None   # nothing to execute: recorded at once
    assert stats.notebook_seconds == [2.0] * 5
    assert stats.workers == 2
    assert stats.summary().startswith("graded 5, could not grade 2")


def test_a_worker_that_dies_costs_one_retry_then_a_clear_failure(local):
    tries: dict[str, int] = {}

    def how(student):
        tries[student] = tries.get(student, 0) + 1
        if student == "bomb" or (student == "unlucky" and tries[student] == 1):
            return BrokenProcessPool("a worker died")
        return result(student)

    writer, stats, recorded = local(["ok", "bomb", "unlucky"], how, workers=1)
    assert tries == {"ok": 1, "bomb": 2, "unlucky": 2}
    assert sorted(recorded) == ["bomb", "ok", "unlucky"]
    assert writer.records["unlucky"][0][0] is not None
    assert "died twice" in writer.records["bomb"][0][1][0]
    assert (stats.graded, stats.failed) == (2, 1)
    assert len(Executor.made) >= 2   # a broken pool is replaced


class Cancelled(Exception):
    pass


class Scripted:
    """A backend of the driver's Protocol that runs nothing: each student's future holds what
    ``how`` gives for it; a Cancelled failure means the backend lost the unit (as a cluster whose
    scheduler is gone)."""

    def __init__(self, how, slots=2):
        self.how, self.n, self.submitted, self.closed = how, slots, [], False

    def start(self):
        return 1

    def slots(self):
        return self.n

    def submit(self, unit):
        self.submitted.append(unit.student)
        return settled(self.how(unit.student))

    def completed(self, futures):
        return futures[:1]

    def failure(self, unit, exc):
        from gradlab_grader.execution import driver

        return driver.LOST if isinstance(exc, Cancelled) else f"failed: {exc}"

    def lost(self, pending):
        return RuntimeError(f"lost, {pending} not graded")

    def close(self):
        self.closed = True


@pytest.mark.parametrize("slots", [1, 2, 3])
def test_a_lost_unit_stops_the_run_and_leaves_the_rest_pending(slots):
    from gradlab_grader.execution import driver

    students = [f"s{i}" for i in range(8)]
    backend = Scripted(lambda s: Cancelled() if s == "s2" else result(s), slots)
    writer = Writer()
    with pytest.raises(RuntimeError) as raised:
        driver.run(writer, students, backend)
    # what completed is recorded; nothing more is submitted once a unit is lost
    recorded = set(writer.records)
    assert "s2" not in recorded and backend.closed
    assert recorded == set(backend.submitted) - {"s2"}
    assert set(backend.submitted) <= set(students[:3 + slots])
    assert str(raised.value) == f"lost, {len(students) - len(recorded)} not graded"


def test_every_backend_and_the_launcher_keep_their_protocol():
    from gradlab_grader.execution import cluster, driver
    from gradlab_grader.kernel.launcher import KernelLauncher, Launcher

    settings = driver.KernelSettings()
    for backend in (pool.LocalPool(1, settings), cluster.DaskCluster("tcp://127.0.0.1:1", settings),
                    driver.InProcess(settings), Scripted(lambda s: None)):
        assert isinstance(backend, driver.Backend), type(backend).__name__
    launcher = Launcher(template=False)
    assert isinstance(launcher, KernelLauncher)
    launcher.close()
