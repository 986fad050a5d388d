"""Where the engine's kernels come from and where they go (``engine.Kernels``): the spare kernel
starts in the background, a used kernel is discarded in the background, and when a worker
closes no kernel process and no working folder is left; a kernel's client is ready without a
fixed wait, and a kernel that dies or hangs while starting fails the notebook as before.

The bookkeeping of ``Kernels`` is checked on stand-in kernels (no process: each start can be
held or made to fail); the rest on real kernels, sandboxed where bubblewrap works.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from gradlab_grader.execution import engine
from gradlab_grader.kernel import launcher as kernel_launcher
from gradlab_grader.kernel.resources import Limits
from gradlab_grader.kernel.sandbox import KernelHandle

from .conftest import processes_of

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)


# -- stand-in kernels ---------------------------------------------------------------------------

class StandInManager:
    """What ``Kernels`` and ``discard`` ask of a kernel manager, with no process: ``start_kernel``
    waits for ``gate`` (if any), then fails when ``fails``."""

    def __init__(self, gate: asyncio.Event | None, fails: bool):
        self.gate, self.fails = gate, fails
        self.started = self.stopped = False

    async def start_kernel(self, **kw):
        if self.gate is not None:
            await self.gate.wait()
        if self.fails:
            raise RuntimeError("the kernel could not start")
        self.started = True

    async def shutdown_kernel(self, now=False):
        self.stopped = True

    async def cleanup_resources(self):
        pass


class StandInLauncher:
    """Kernels in working folders under ``root``; ``plan``: per kernel, in order, a
    (gate, fails) pair (default: starts at once)."""

    sandboxed = whole_kernel = False

    def __init__(self, root: Path, plan=()):
        self.root, self.plan, self.made = root, list(plan), []

    def kernel(self) -> KernelHandle:
        gate, fails = self.plan.pop(0) if self.plan else (None, False)
        workdir = self.root / f"kernel-{len(self.made)}"
        workdir.mkdir()
        kernel = KernelHandle(StandInManager(gate, fails), workdir, None, None, Limits())  # type: ignore[arg-type]
        self.made.append(kernel)
        return kernel

    def close(self):
        pass


async def _settle(task, turns: int = 20) -> None:
    """Give the event loop ``turns`` turns (no clock involved)."""
    for _ in range(turns):
        if task.done():
            return
        await asyncio.sleep(0)


def test_take_hands_out_the_spare_without_waiting_for_the_next_start(tmp_path):
    async def run():
        held = asyncio.Event()
        launcher = StandInLauncher(tmp_path, [(None, False), (held, False)])   # the 2nd start hangs
        kernels = engine.Kernels(launcher)
        await kernels.warm()
        first = launcher.made[0]
        take = asyncio.ensure_future(kernels.take())
        await _settle(take)
        assert take.done() and take.result() is first
        await _settle(asyncio.ensure_future(asyncio.sleep(0)))
        assert len(launcher.made) == 2 and not launcher.made[1].manager.started   # starting behind
        held.set()
        second = await kernels.take()
        assert second is launcher.made[1] and second.manager.started
        kernels.retire(first)
        kernels.retire(second)
        await kernels.close()
        return launcher

    launcher = asyncio.run(run())
    assert all(k.manager.stopped and not k.workdir.exists() for k in launcher.made)


def test_a_spare_that_failed_to_start_is_started_again_once_at_the_next_take(tmp_path):
    async def run():
        launcher = StandInLauncher(tmp_path, [(None, False), (None, True)])   # the spare fails
        kernels = engine.Kernels(launcher)
        first = await kernels.take()
        await _settle(asyncio.ensure_future(asyncio.sleep(0)))
        second = await kernels.take()       # the failed spare's error is not the notebook's
        kernels.retire(first)
        kernels.retire(second)
        await kernels.close()
        return launcher, first, second

    launcher, first, second = asyncio.run(run())
    assert (first, second) == (launcher.made[0], launcher.made[2])
    assert second.manager.started and not launcher.made[1].manager.started
    assert not any(k.workdir.exists() for k in launcher.made)   # the failed one's folder too


def test_a_second_failure_to_start_is_raised(tmp_path):
    async def run():
        launcher = StandInLauncher(tmp_path, [(None, False), (None, True), (None, True)])
        kernels = engine.Kernels(launcher)
        kernels.retire(await kernels.take())
        try:
            with pytest.raises(RuntimeError, match="could not start"):
                await kernels.take()
        finally:
            await kernels.close()
        return launcher

    launcher = asyncio.run(run())
    assert len(launcher.made) == 3 and not any(k.workdir.exists() for k in launcher.made)


def test_close_waits_for_a_starting_spare_and_for_kernels_not_given_back(tmp_path):
    async def run():
        held = asyncio.Event()
        launcher = StandInLauncher(tmp_path, [(None, False), (held, False)])
        kernels = engine.Kernels(launcher)
        await kernels.take()                 # taken, never retired (a notebook that failed midway)
        closing = asyncio.ensure_future(kernels.close())
        await _settle(closing)
        assert not closing.done()            # the spare is still starting: close waits for it
        held.set()
        await closing
        return launcher

    launcher = asyncio.run(run())
    assert len(launcher.made) == 2
    assert all(k.manager.stopped and not k.workdir.exists() for k in launcher.made)


# -- real kernels -------------------------------------------------------------------------------

class Recording:
    """A launcher that notes every kernel it makes."""

    def __init__(self, launcher):
        self.launcher, self.made = launcher, []

    def kernel(self):
        kernel = self.launcher.kernel()
        self.made.append(kernel)
        return kernel

    def __getattr__(self, name):
        return getattr(self.launcher, name)


@pytest.fixture
def recording():
    launcher = Recording(kernel_launcher.launcher(None, preload=[]))
    yield launcher
    launcher.launcher.close()


def _gone(kernel) -> list[str]:
    """What is left of a kernel: its processes (its own uid: a sandboxed root grader's), its
    working folder, its socket folder."""
    left = [str(p) for p in (kernel.workdir, Path(kernel.manager.rundir)) if p.exists()]
    if kernel.uid is not None and processes_of(kernel.uid):
        left.append(f"{processes_of(kernel.uid)} processes of uid {kernel.uid}")
    return left


def _grade(launcher, cells: list[str], args=(), guard=None) -> engine.UnitResult:
    """One unit of one notebook of ``cells`` on fresh ``Kernels`` (closed at the end), whose
    kernels get ``args`` besides the usual; ``guard``: seconds after which a hung unit fails
    the test instead of holding it (never reached by a unit that works)."""
    async def run():
        kernels = engine.Kernels(launcher, figures=False)
        kernels.args = [*kernels.args, *args]
        try:
            await kernels.warm()
            nb = new_notebook(cells=[new_code_cell(c) for c in cells])
            unit = engine.WorkUnit("a", "s", [engine.NotebookWork("n", nbformat.writes(nb))],
                                   limits=engine.ExecLimits(cell_timeout=30))
            return await asyncio.wait_for(engine.execute_unit(unit, kernels), guard)
        finally:
            await kernels.close()

    return asyncio.run(run())


def _stdout(result: engine.UnitResult) -> list[str]:
    nb = nbformat.reads(result.notebooks[0].notebook, as_version=4)
    return ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream") for c in nb.cells]


def test_a_unit_that_replaces_its_kernel_twice_leaves_no_process_and_no_folder(recording):
    result = _grade(recording, ["x = 41", "import os; os._exit(1)", "x += 1", "import os; os._exit(2)",
                                "print(x)"])
    nb_result = result.notebooks[0]
    assert not nb_result.error and nb_result.restarts == 2
    assert [c.status for c in nb_result.cells] == ["ok", "crashed", "ok", "crashed", "ok"]
    assert _stdout(result)[4] == "42\n"          # the earlier cells ran again in each new kernel
    assert len(recording.made) >= 3              # the first kernel, two replacements (and spares)
    assert [_gone(k) for k in recording.made] == [[]] * len(recording.made)
    if recording.use_template:
        base = Path(recording.template.base)
        assert not [p.name for p in base.iterdir() if p.name.startswith(("gradlab-kernel-", "gradlab-k-"))]


def test_a_kernel_that_dies_while_starting_fails_the_notebook_and_is_discarded(recording):
    result = _grade(recording, ["print('never')"], ["--IPKernelApp.code_to_run=import os; os._exit(3)"])
    assert result.notebooks[0].error == "RuntimeError: Kernel died before replying to kernel_info"
    assert recording.made and [_gone(k) for k in recording.made] == [[]] * len(recording.made)


def test_a_kernel_that_never_answers_fails_at_the_startup_timeout(recording, monkeypatch):
    monkeypatch.setattr(engine, "STARTUP_TIMEOUT", 3)
    result = _grade(recording, ["print('never')"], ["--IPKernelApp.code_to_run=import time; time.sleep(600)"])
    assert result.notebooks[0].error == "RuntimeError: Kernel didn't respond in 3 seconds"
    assert recording.made and [_gone(k) for k in recording.made] == [[]] * len(recording.made)


def test_messages_of_the_handshake_are_never_a_cells_output(recording, monkeypatch):
    # kernel_info asked again and again: replies and statuses of the handshake are left on
    # the channels when the first cell runs; nbclient reads only its own request's messages
    monkeypatch.setattr(engine, "IOPUB_JOIN_WAIT", 0.0005)
    monkeypatch.setattr(engine, "REPLY_WAIT", 0.0005)
    cells = ["print('first')", "import sys; print('second', file=sys.stderr); 6 * 7", "print('third')"]
    result = _grade(recording, cells)
    assert [c.status for c in result.notebooks[0].cells] == ["ok", "ok", "ok"]
    nb = nbformat.reads(result.notebooks[0].notebook, as_version=4)
    assert [[o.output_type for o in c.outputs] for c in nb.cells] == [["stream"], ["stream", "execute_result"],
                                                                      ["stream"]]
    assert _stdout(result) == ["first\n", "second\n", "third\n"]
    assert nb.cells[1].outputs[1].data["text/plain"] == "42"
    assert [c.execution_count for c in nb.cells] == [1, 2, 3]


def test_the_client_is_ready_without_waiting_for_iopub_silence(recording, monkeypatch):
    """A kernel that prints without pause from its start leaves iopub never silent: jupyter_client's
    wait_for_ready (0.2 s of silence) would wait until the startup timeout; ready is the
    kernel's answer."""
    monkeypatch.setattr(engine, "STARTUP_TIMEOUT", 20)
    noise = ("import threading, sys, time\n"
             "def noise():\n"
             "    while True:\n"
             "        print('noise', flush=True)\n"
             "        time.sleep(0.01)\n"
             "threading.Thread(target=noise, daemon=True).start()")
    result = _grade(recording, ["x = 1", "print(x + 1)"], [f"--IPKernelApp.code_to_run={noise}"], guard=120)
    assert not result.notebooks[0].error
    assert [c.status for c in result.notebooks[0].cells] == ["ok", "ok"]
    assert "2\n" in _stdout(result)[1]
    assert [_gone(k) for k in recording.made] == [[]] * len(recording.made)
