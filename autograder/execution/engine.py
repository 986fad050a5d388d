"""The grading engine: one work unit, prepared and recorded by one writer, executed anywhere.

Grading a submission is three steps, and only the middle one runs a student's code::

    prepare (writer)  submitted/<s>/<a>/*.ipynb + the gradebook  ->  WorkUnit     (plain, picklable)
    execute (anywhere)                               WorkUnit    ->  UnitResult   (plain, picklable)
    record  (writer)  UnitResult  ->  the gradebook + autograded/<s>/<a>/ + the ledger

*prepare* runs nbgrader's sanitising preprocessors (``OverwriteCells`` restores every locked
cell from the gradebook, gradlab's ``ClearExecutionTags`` drops execution tags …) and packs the
notebooks, the submission's other files and the instructor's non-notebook files into a
:class:`WorkUnit`.  *execute* needs nothing but the unit: it never sees the gradebook, the
sources or the workspace, so it runs in a local worker process now and on another machine
later.  *record* is nbgrader's ``SaveAutoGrades`` side, done in one gradebook transaction by the
one process that owns the gradebook (:mod:`gradlab_grader.recording.ledger` makes it exactly once).

Execution runs cell by cell on nbclient, with gradlab's rules for what a cell may cost:

* a cell that stops its kernel (``os._exit``, a segfault, memory exhaustion) or hangs ignoring
  interrupts scores zero with a message saying so; the kernel is replaced by a warm one, the
  earlier non-test cells are run again, and the remaining tests are still graded;
* each cell has a time limit (the workspace's, or what the source notebook declares for the
  notebook or the cell: :func:`plan_cells`), and so has the notebook;
* a lecture cell the source marks ``"gradlab": {"grading": "skip"}`` is not run when no cell
  that runs after it may read a name it binds (:mod:`gradlab_grader.execution.dataflow`); a lecture cell
  that no score depends on and fails or hangs is noted in the cell, never held against the
  submission;
* a cell's output is capped while it streams (a print bomb never reaches the grader's memory):
  past the cap the kernel is interrupted and the cell told why;
* a test cell is never sent to the kernel: :mod:`gradlab_grader.execution.trusted` runs it in
  the grader's process and asks the kernel only for the values of the student's functions
  (plain data, size-limited, a timeout per call).  The cell's outputs are what the trusted
  checker wrote (the test's messages, the student's prints during its calls, one error when it
  failed), so nbgrader's score of the cell is the trusted verdict and nothing the kernel prints
  or displays changes it; a test the kernel kept from being decided (a call interrupted at its
  limit, an answer that could not be read) scores 0 with the reason, and a kernel that died or
  would not stop is replaced as after a crash.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..kernel.launcher import KernelLauncher
    from ..kernel.sandbox import KernelHandle
    from .trusted import TestNamespace

from ..cells import grade_id
from ..kernelenv import kernel_arguments

# Wall-clock limit for one whole notebook (seconds): the lecture notebooks run in well under a
# minute; a cell alone may take CELL_TIMEOUT (workspace.py).
NOTEBOOK_TIMEOUT = 600
# Kernel replacements a notebook may cost before its remaining cells are given up: each
# crash costs one cell, but a notebook that crashes every cell should not hold a worker.
MAX_RESTARTS = 8
# Seconds nbclient waits for the output of a cell after its reply (nbclient's default is 4).
IOPUB_TIMEOUT = 4
# Seconds for a kernel to start and answer (nbclient's default is 60).
STARTUP_TIMEOUT = 60
# Seconds before kernel_info is asked again while a started kernel has not replied (a kernel
# still starting; jupyter_client waits 1), and while iopub has carried nothing of ours after
# the reply (the subscription had not reached the kernel yet; jupyter_client waits 0.2)
REPLY_WAIT = 1.0
IOPUB_JOIN_WAIT = 0.05

# The error names gradlab writes into a cell that did not finish; results.py and the ledger read them.
KERNEL_DIED = "KernelDied"
CELL_HUNG = "CellTimeoutError"  # nbgrader's own name for a cell past its time limit
OUTPUT_CUT = "OutputLimitExceeded"
NOT_RUN = "NotRun"
UNDECIDED = "KernelDidNotAnswer"  # the kernel kept the trusted checker from deciding a test
# what a lecture cell skipped while grading shows in the graded notebook and the feedback
SKIPPED_NOTE = "[not run while grading: no test depends on this cell; your own notebook runs it]"
# added to what a cell no score depends on says when it failed, hung or crashed
UNSCORED_NOTE = "no test depends on this cell, so this changes no score"
# What a failure usually means, for the reasons nbgrader and the executor give
REMEDIES = {
    "DeadKernelError": "the notebook stopped its own kernel (os._exit, a crash, or out of memory)",
    "CellTimeoutError": "a cell ran past the time limit",
    "MissingEntry": "the notebook does not match the released assignment (renamed or foreign cells); "
                    "check it against the release and collect again",
    "MemoryError": "the notebook ran out of memory",
}


def _sandbox_limits():
    from ..kernel.resources import Limits

    return Limits()


@dataclass(frozen=True)
class ExecLimits:
    """What one notebook may cost the grader (the sandbox adds memory, CPU, processes, files)."""

    cell_timeout: float = 60.0
    notebook_timeout: float = NOTEBOOK_TIMEOUT
    output_bytes: int = field(default_factory=lambda: _sandbox_limits().output_bytes)
    max_restarts: int = MAX_RESTARTS


@dataclass
class NotebookWork:
    name: str  # notebook id: the file is <name>.ipynb
    notebook: str  # the sanitised notebook as nbformat v4 JSON
    tests: list[int] = field(default_factory=list)  # indices of test (grade) cells
    answers: list[int] = field(default_factory=list)  # indices of answer (solution) cells
    skip: list[int] = field(default_factory=list)  # lecture cells not run while grading
    unscored: list[int] = field(default_factory=list)  # code cells no score depends on
    timeouts: dict[int, float] = field(default_factory=dict)  # cell index -> its own time limit
    # installed modules the instructor's cells import: a test's free name bound to one of them
    # (np, checks, ref) is imported in the trusted checker, never taken from the kernel
    trusted: list[str] = field(default_factory=list)


@dataclass
class WorkUnit:
    """Everything needed to execute one submission, and nothing of the gradebook or sources."""

    assignment: str
    student: str
    notebooks: list[NotebookWork]
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content, for the working copy
    limits: ExecLimits = field(default_factory=ExecLimits)


@dataclass
class CellOutcome:
    index: int
    grade_id: str | None
    kind: str  # "test", "answer" or "code"
    status: str  # "ok", "error", "timeout", "crashed", "output-cut", "not-run", "untrusted", "skipped"
    # ("untrusted": a test the kernel kept the trusted checker from deciding)
    message: str = ""
    scored: bool = True  # False: no score depends on this cell (a lecture cell, dataflow.depended_on)


@dataclass
class NotebookResult:
    name: str
    notebook: str = ""  # the executed notebook as JSON ("" when it could not run at all)
    cells: list[CellOutcome] = field(default_factory=list)
    error: str = ""  # why the notebook could not run at all
    restarts: int = 0


@dataclass
class UnitResult:
    assignment: str
    student: str
    notebooks: list[NotebookResult] = field(default_factory=list)
    seconds: float = 0.0
    sandboxed: bool = False  # the kernels ran under bubblewrap
    whole_kernel: bool = False  # ... with limits per kernel (kernel.limits), on the machine that ran them


# -- kernels ------------------------------------------------------------------------------------

class Kernels:
    """Where a worker's kernels come from, and where they go back to.

    One kernel is always starting for the next need, in the background: ``take()`` hands out
    that spare at once and starts the next one as a task, so neither a notebook nor a crash
    inside one waits for a kernel to be forked.  A kernel given back (``retire``) is stopped and
    its working copy removed by a task of its own, while the next notebook runs.  ``close()``
    waits for all of them: afterwards no kernel of these runs and no working copy is left.
    """

    def __init__(self, launcher: KernelLauncher | None = None, figures: bool = True):
        if launcher is None:
            from ..kernel.launcher import launcher as default_launcher

            launcher = default_launcher()
        self.launcher: KernelLauncher = launcher
        self.args = kernel_arguments(figures)
        self._spare: asyncio.Future | None = None   # the next kernel, starting or started
        self._lent: dict[int, KernelHandle] = {}    # taken and not retired yet, by id
        self._retiring: set[asyncio.Future] = set()

    async def _start(self) -> KernelHandle:
        kernel = self.launcher.kernel()
        try:
            await kernel.manager.start_kernel(extra_arguments=list(self.args), cwd=str(kernel.workdir))
        except BaseException:   # nothing of a kernel that did not start is left behind
            await discard(kernel)
            raise
        return kernel

    async def warm(self) -> None:
        """Start the spare kernel (unless one is starting) and wait until it has started."""
        if self._spare is None:
            self._spare = asyncio.ensure_future(self._start())
        await asyncio.shield(self._spare)

    async def take(self) -> KernelHandle:
        """A started kernel: the spare, else one started now (also when the spare failed to
        start: a second failure is raised); the next spare starts in the background."""
        spare, self._spare = self._spare, None
        kernel = None
        if spare is not None:
            try:
                kernel = await asyncio.shield(spare)
            except asyncio.CancelledError:
                self._spare = spare   # the caller gave up waiting; the spare stays the spare
                raise
            except Exception:
                kernel = None
        if kernel is None:
            kernel = await self._start()
        self._lent[id(kernel)] = kernel
        self._spare = asyncio.ensure_future(self._start())
        return kernel

    def retire(self, kernel: KernelHandle) -> None:
        """Stop a taken kernel and remove its working copy (:func:`discard`) in the background."""
        self._lent.pop(id(kernel), None)
        task = asyncio.ensure_future(discard(kernel))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        """Discard the spare and every kernel not retired yet, and wait until all are gone."""
        spare, self._spare = self._spare, None
        if spare is not None:
            try:
                self.retire(await spare)
            except Exception:
                pass   # it did not start: _start left nothing behind
        for kernel in list(self._lent.values()):
            self.retire(kernel)
        while self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)


async def discard(kernel) -> None:
    """Stop a kernel (it may be dead already) and remove its working copy."""
    from jupyter_core.utils import ensure_async

    km = kernel.manager
    try:
        await km.shutdown_kernel(now=True)
    except Exception:  # already gone: shutdown did not get to clean up after it
        try:
            await ensure_async(km.cleanup_resources())
        except Exception:
            pass
    shutil.rmtree(kernel.workdir, ignore_errors=True)


def preload_modules(notebooks, exclude=()) -> list[str]:
    """The modules worth importing once in a kernel template for these notebooks: what their code
    cells import (``import a.b`` -> ``a.b``; ``from a import b`` -> ``a`` and ``a.b`` if that is a
    module), kept only when installed (:func:`installed_modules`).  Never executes them."""
    import nbformat

    from ..imports import modules_loaded, notebook_imports

    found = []
    for path in notebooks:
        try:
            found += notebook_imports(nbformat.read(str(path), as_version=4))
        except Exception:
            continue
    return installed_modules(modules_loaded(found), exclude)


def installed_modules(names, exclude=()) -> list[str]:
    """``names`` whose top-level package is installed in this Python: never a module of the
    working copy, the workspace or ``exclude`` (a student's file must not be imported here)."""
    import importlib.util

    from ..kernel.bubblewrap import python_paths

    installed = python_paths()
    excluded = [os.path.realpath(e) for e in exclude]
    kept: dict[str, bool] = {}
    for name in names:
        top = name.split(".")[0]
        if top not in kept:
            try:
                spec = importlib.util.find_spec(top)
            except (ImportError, ValueError):
                spec = None
            kept[top] = spec is not None and (
                spec.origin in ("built-in", "frozen")  # part of the interpreter (os, sys …)
                or _installed_places(spec, installed, excluded))
    return [name for name in names if kept[name.split(".")[0]]]


def _installed_places(spec, installed, excluded) -> bool:
    """Every file of the module ``spec`` lies in this Python's installation, none in ``excluded``."""
    from ..kernel.bubblewrap import inside

    origin = os.path.realpath(spec.origin) if spec.origin else ""
    places = [p for p in [origin, *map(os.path.realpath, spec.submodule_search_locations or [])] if p]
    return bool(places) and all(inside(p, installed) and not inside(p, excluded) for p in places)


# -- execute ------------------------------------------------------------------------------------

def _cell_runner_class():
    from nbclient import NotebookClient
    from nbformat import NotebookNode

    from ..kernel.outputcap import OutputCap

    class CellRunner(OutputCap, NotebookClient):
        """nbclient's client with the sandbox's output cap; a cell that reaches the cap is
        interrupted (a print bomb ends at once instead of at its time limit).  Its client is
        ready as soon as the kernel has answered (:func:`_until_ready`)."""

        async def async_start_new_kernel_client(self):
            # nbclient's, with _until_ready for jupyter_client's wait_for_ready: that one ends by
            # waiting for 0.2 s of iopub silence, a sleep per notebook
            from jupyter_core.utils import ensure_async
            from nbclient.util import run_hook

            assert self.km is not None
            try:
                self.kc = self.km.client()
                await ensure_async(self.kc.start_channels())
                await _until_ready(self.kc, self.km, self.startup_timeout)
            except Exception as exc:
                self.log.error(f"Error occurred while starting new kernel client for kernel "
                               f"{getattr(self.km, 'kernel_id', None)}: {exc}")
                await self._async_cleanup_kernel()
                raise
            self.kc.allow_stdin = False
            await run_hook(self.on_notebook_start, notebook=self.nb)
            return self.kc

        def reset_cell(self):
            self.output_cut = False
            self.last_reply = None
            self.budget.reset()

        def output(self, outs, msg, display_id, cell_index):
            out = super().output(outs, msg, display_id, cell_index)
            if not self.output_cut and self.budget.exceeded:
                self.output_cut = True
                asyncio.ensure_future(self.km.interrupt_kernel())
            return out

        async def _check_raise_for_error(self, cell, cell_index, exec_reply):
            self.last_reply = exec_reply
            content = (exec_reply or {}).get("content", {})
            if content.get("status") == "error" and not any(
                    o.get("output_type") == "error" and o.get("ename") == content.get("ename")
                    for o in cell.outputs):
                # a timeout's reply is made up by nbclient: show it in the cell, as nbgrader does
                cell.outputs.append(NotebookNode(output_type="error", ename=content.get("ename", ""),
                                                 evalue=content.get("evalue", ""),
                                                 traceback=content.get("traceback") or []))
            return await super()._check_raise_for_error(cell, cell_index, exec_reply)

    return CellRunner


async def _until_ready(kc, km, timeout: float) -> None:
    """Wait until a started kernel answers its client ``kc``: a kernel_info reply on shell, and
    a message on iopub whose parent is one of those requests (the kernel has the client's
    subscription, so no output of a cell can be lost).  kernel_info is asked again while the
    reply is missing (a kernel still starting) or iopub stays silent (the subscription reached
    the kernel after it published).  A kernel that ends, or is silent for ``timeout`` seconds,
    fails as in jupyter_client's ``wait_for_ready`` (RuntimeError, the same words).

    nbclient reads a cell's reply and output only from messages whose parent is the cell's
    request: an older message (the kernel's start, a kernel_info) is never taken as output."""
    import zmq
    from jupyter_client import protocol_version_info
    from jupyter_core.utils import ensure_async
    from zmq.asyncio import Poller

    channels = {kc.shell_channel.socket: kc.shell_channel, kc.iopub_channel.socket: kc.iopub_channel}
    poller = Poller()
    for socket in channels:
        poller.register(socket, zmq.POLLIN)
    deadline = time.monotonic() + timeout
    asked: set[str] = set()
    reply, heard, again = None, False, 0.0
    while reply is None or not heard:
        now = time.monotonic()
        if now >= again:
            if asked and not await ensure_async(km.is_alive()):
                raise RuntimeError("Kernel died before replying to kernel_info")
            if now > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
            asked.add(kc.kernel_info())
            again = now + (IOPUB_JOIN_WAIT if reply is not None else REPLY_WAIT)
        for socket, _ in await poller.poll(max(1, int((again - now) * 1000))):
            msg = await channels[socket].get_msg(timeout=0)
            if msg["parent_header"].get("msg_id") not in asked:
                continue
            if socket is kc.iopub_channel.socket:
                heard = True
            elif msg["msg_type"] == "kernel_info_reply" and reply is None:
                reply = msg
                again = min(again, time.monotonic() + IOPUB_JOIN_WAIT)
    # what jupyter_client does with the reply: speak the kernel's protocol version
    spoken = int(reply["content"]["protocol_version"].split(".")[0])
    if spoken != protocol_version_info[0]:
        kc.session.adapt_version = spoken


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n / 2**10:g} KiB"


def error_output(ename: str, evalue: str):
    from nbformat import NotebookNode

    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


async def _use_kernel(runner, kernels: Kernels) -> None:
    """Hand the runner a kernel taken from ``kernels``, with a link of the trusted checker's to it
    (its agent is installed now, before any cell of the submission runs).  A kernel that does
    not come up goes back to ``kernels`` (:func:`_drop_kernel`) and the error is raised."""
    from .trusted import KernelLink, KernelStopped

    kernel = await kernels.take()
    runner.kernels, runner.km, runner.kernel = kernels, kernel.manager, kernel
    try:
        await runner.async_start_new_kernel_client()
        runner.link = KernelLink(runner.km.get_connection_info(), call_timeout=runner.call_timeout)
        try:
            await asyncio.to_thread(runner.link.start)
        except KernelStopped as stop:  # a BaseException: made the notebook's failure, not the worker's
            raise RuntimeError(f"the grader's checker could not reach the kernel ({stop.reason})") from None
    except BaseException:
        await _drop_kernel(runner)
        raise


async def _drop_kernel(runner) -> None:
    """Close the runner's channels to its kernel and give the kernel back to its ``Kernels``,
    which stops it and removes its working copy in the background (:meth:`Kernels.retire`)."""
    link, runner.link = getattr(runner, "link", None), None
    if link is not None:
        try:
            await asyncio.to_thread(link.close)
        except Exception:
            pass
    if runner.kc is not None:
        try:
            runner.kc.stop_channels()
        except Exception:
            pass
        runner.kc = None
    kernel, runner.kernel, runner.km = runner.kernel, None, None
    if kernel is not None:
        runner.kernels.retire(kernel)


def _write_files(runner, files: dict[str, bytes]) -> None:
    """The unit's files into the kernel's working copy, owned by the kernel's user (a sandboxed
    kernel of a root grader runs as a uid of its own).  No notebook is among them (the ledger
    leaves ``*.ipynb`` out): the hidden tests never reach the kernel's disk."""
    workdir = runner.kernel.workdir.resolve()
    uid = runner.kernel.uid
    for rel, data in files.items():
        path = (workdir / rel).resolve()
        if not path.is_relative_to(workdir):
            continue  # a path that climbs out of the working copy is not written
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if uid is not None:
            for part in [path, *path.parents]:
                if part == workdir:
                    break
                os.chown(part, uid, uid)


def scored_outputs(verdict) -> list:
    """The test cell's outputs from the trusted ``verdict``, so that nbgrader's score of the cell
    (``nbgrader.utils.determine_grade``: 0 at the first error or stderr output, a number from an
    ``execute_result``, else full points) is exactly the verdict: only stream and error outputs
    are kept; a passed test keeps no error and shows its stderr as plain output; a failed one
    ends with one error (the checker's message, else the reason it could not decide)."""
    from nbformat import NotebookNode

    outputs = [NotebookNode(o) for o in verdict.outputs if o.get("output_type") in ("stream", "error")]
    if verdict.passed and verdict.reason is None:
        outputs = [o for o in outputs if o["output_type"] == "stream"]
        for o in outputs:
            o["name"] = "stdout"
        return outputs
    if not any(o["output_type"] == "error" for o in outputs):
        outputs.append(error_output(UNDECIDED, verdict.reason or "the test did not pass"))
    return outputs


async def _judge(runner, source: str, namespace: TestNamespace, timeout: float, trusted, history):
    """The trusted checker's verdict on one test cell (the cell never reaches the kernel)."""
    from .trusted import Verdict, run_test_cell

    runner.link.call_timeout = timeout  # a call may take the cell's own limit (a training run)
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(run_test_cell, runner.link, source, namespace, timeout=timeout,
                              trusted_modules=frozenset(trusted), history=list(history)),
            timeout + IOPUB_TIMEOUT + 10)
    except asyncio.TimeoutError:  # the checker itself did not come back: the kernel is given up
        return Verdict(False, [], reason=f"the test ran past its time limit ({timeout:g} s) and did not stop",
                       kernel_dead=True)


async def execute_notebook(work: NotebookWork, files: dict[str, bytes], limits: ExecLimits,
                           kernels: Kernels) -> NotebookResult:
    """Run one notebook cell by cell; a cell that kills or hangs its kernel costs only itself.
    Test cells are judged by the trusted checker, the other cells run in the kernel."""
    import nbformat

    result = NotebookResult(work.name)
    try:
        nb = nbformat.reads(work.notebook, as_version=4)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    execution = _NotebookRun(work, files, limits, kernels, nb, result)
    await execution.prepare()
    try:
        for index, cell in _code_cells(nb):
            await execution.cell(index, cell)
    finally:
        await execution.finish()
    result.notebook = nbformat.writes(nb)
    return result


def _cell_runner(nb, limits: ExecLimits):
    """nbclient's client for the notebook, with the notebook's limits (no kernel yet)."""
    from ..kernel.outputcap import OutputBudget

    runner = _cell_runner_class()(
        nb, km=None, timeout=max(1, int(limits.cell_timeout)), allow_errors=True,
        interrupt_on_timeout=True, raise_on_iopub_timeout=True, iopub_timeout=IOPUB_TIMEOUT,
        startup_timeout=STARTUP_TIMEOUT, record_timing=False,
        # not coalesce_streams: nbclient then runs a backtracking regex over each stream, quadratic
        # in a long line (a print bomb without newlines would hold the worker for hours)
        coalesce_streams=False, budget=OutputBudget(limits.output_bytes))
    runner.call_timeout = limits.cell_timeout
    runner.reset_cell()
    return runner


def _notes(outcome: CellOutcome) -> tuple[str, str]:
    """What a cell's failure adds when no score depends on it, and what a broken kernel costs it."""
    unscored_note = "" if outcome.scored else f"; {UNSCORED_NOTE}"
    restarted = ("it scores 0 and the cells after it ran in a fresh kernel" if outcome.scored else
                 f"the cells after it ran in a fresh kernel{unscored_note}")
    return unscored_note, restarted


def _skipped(cell, outcome: CellOutcome) -> None:
    """A lecture cell not run while grading: it says so."""
    from nbformat.v4 import new_output

    cell.outputs = [new_output("stream", name="stdout", text=SKIPPED_NOTE + "\n")]
    outcome.status = "skipped"


def _not_run(cell, outcome: CellOutcome, why: str) -> None:
    """A cell after the notebook was given up (its time limit, too many kernels): it says why."""
    cell.outputs = [error_output(NOT_RUN, f"not run: {why}")]
    outcome.status, outcome.message = "not-run", why


class _NotebookRun:
    """One notebook being executed: prepare, then each code cell in order (skipped / not run /
    a test judged by the trusted checker / a cell run in the kernel), a broken kernel replaced."""

    def __init__(self, work: NotebookWork, files: dict[str, bytes], limits: ExecLimits, kernels: Kernels,
                 nb, result: NotebookResult):
        from .trusted import TestNamespace

        self.work, self.files, self.limits, self.kernels = work, files, limits, kernels
        self.nb, self.result = nb, result
        self.tests, self.answers = set(work.tests), set(work.answers)
        self.skip, self.unscored = set(work.skip), set(work.unscored)
        self.runner = _cell_runner(nb, limits)
        self.deadline = 0.0
        self.replayable: list[int] = []  # earlier non-test cells that ran to their end
        self.history: list[str] = []     # the code cells run so far, for the checker's hints
        self.namespace = TestNamespace()  # the test cells' names, in the checker
        self.gave_up = ""                # why the remaining cells are not run ("" while they are)

    def limit(self, index: int) -> float:
        return self.work.timeouts.get(index, self.limits.cell_timeout)

    async def prepare(self) -> None:
        await _use_kernel(self.runner, self.kernels)
        _write_files(self.runner, self.files)
        self.deadline = time.monotonic() + self.limits.notebook_timeout

    async def finish(self) -> None:
        if self.runner.kc is not None or self.runner.km is not None:
            await _drop_kernel(self.runner)

    async def cell(self, index: int, cell) -> None:
        kind = "test" if index in self.tests else "answer" if index in self.answers else "code"
        outcome = CellOutcome(index, grade_id(cell), kind, "ok", scored=index not in self.unscored)
        self.result.cells.append(outcome)
        if index in self.skip:
            _skipped(cell, outcome)
            return
        remaining = self.deadline - time.monotonic()
        if self.gave_up or remaining < 1:
            self.gave_up = self.gave_up or f"the notebook ran past its time limit ({self.limits.notebook_timeout:g} s)"
            _not_run(cell, outcome, self.gave_up)
            return
        self.runner.timeout = max(1, int(min(self.limit(index), remaining)))
        if kind == "test":
            broken = await self.judge(cell, outcome)
        else:
            broken = await self.run_in_kernel(index, cell, outcome)
        if broken:
            await self.restart()
        elif kind != "test" and outcome.status in ("ok", "error"):
            self.replayable.append(index)

    async def judge(self, cell, outcome: CellOutcome) -> str:
        """A test cell, decided by the trusted checker; what broke the kernel ("" if nothing did)."""
        verdict = await _judge(self.runner, cell.source, self.namespace, self.runner.timeout, self.work.trusted,
                               self.history)
        return _record_verdict(verdict, cell, outcome, _notes(outcome)[1])

    async def run_in_kernel(self, index: int, cell, outcome: CellOutcome) -> str:
        """Any other code cell, run in the kernel; what broke the kernel ("" if nothing did)."""
        limit = self.limit(index)
        unscored_note, restarted = _notes(outcome)
        self.runner.error_on_timeout = {
            "ename": CELL_HUNG, "evalue": f"the cell ran past its time limit ({limit:g} s) and was "
            f"interrupted{unscored_note}",
            "traceback": [f"\x1b[0;31m{CELL_HUNG}\x1b[0m: the cell ran past its time limit{unscored_note}"]}
        self.runner.reset_cell()
        broken = await _run_cell(self.runner, cell, index, outcome, limit, self.limits, restarted, unscored_note)
        self.history.append(cell.source)
        return broken

    async def restart(self) -> None:
        """The kernel broke: a fresh one with the earlier cells run again, unless the notebook has
        cost too many already (then the remaining cells are given up)."""
        self.result.restarts += 1
        await _drop_kernel(self.runner)
        if self.result.restarts > self.limits.max_restarts:
            self.gave_up = f"the kernel was replaced {self.limits.max_restarts} times"
            return
        self.gave_up = await _replace_kernel(self.runner, self.kernels, self.files, self.nb, self.replayable,
                                             self.deadline, self.limit)


def _record_verdict(verdict, cell, outcome: CellOutcome, restarted: str) -> str:
    """The verdict as the test cell's outputs and outcome; what broke the kernel ("" if nothing).
    When the kernel, not the test, stopped the verdict, a dead kernel is replaced as after a
    crash, a live one (a call interrupted, an unreadable answer) is kept."""
    cell.outputs = scored_outputs(verdict)
    error = next((o for o in cell.outputs if o["output_type"] == "error"), None)
    if error is not None:
        outcome.status, outcome.message = "error", f"{error['ename']}: {error['evalue']}"[:300]
    if verdict.reason is None:
        return ""
    ename, status, then = ((KERNEL_DIED, "crashed", restarted) if verdict.kernel_dead
                           else (UNDECIDED, "untrusted", "it scores 0"))
    outcome.status, outcome.message = status, f"{ename}: {verdict.reason}; {then}"
    cell.outputs = [o for o in cell.outputs if o["output_type"] == "stream"] + [
        error_output(ename, f"{verdict.reason}; {then}")]
    return outcome.message if verdict.kernel_dead else ""


async def _run_cell(runner, cell, index: int, outcome: CellOutcome, limit: float, limits: ExecLimits,
                    restarted: str, unscored_note: str) -> str:
    """Run a cell that is not a test in the kernel; what broke the kernel ("" if nothing did)."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    broken = ""
    try:
        await asyncio.wait_for(runner.async_execute_cell(cell, index), runner.timeout + IOPUB_TIMEOUT + 10)
    except DeadKernelError:
        broken = (f"{KERNEL_DIED}: the cell stopped the Python kernel (os._exit, a crash, or "
                  f"running out of memory); {restarted}")
        outcome.status = "crashed"
    except (CellTimeoutError, asyncio.TimeoutError) if runner.output_cut else ():  # noqa: B030 (() catches nothing)
        # interrupted for its output, the cell left more queued than nbclient waits for
        broken = (f"{OUTPUT_CUT}: the cell printed more than {_size(limits.output_bytes)}; its output "
                  "was cut there, the cell stopped, and the cells after it ran in a fresh kernel"
                  + unscored_note)
        outcome.status = "output-cut"
    except (CellTimeoutError, asyncio.TimeoutError):
        broken = (f"{CELL_HUNG}: the cell ran past its time limit ({limit:g} s) and "
                  f"did not stop when interrupted; {restarted}")
        outcome.status = "timeout"
    if broken:
        ename, evalue = broken.split(": ", 1)
        cell.outputs.append(error_output(ename, evalue))
        outcome.message = broken
        return broken
    if runner.output_cut:
        message = (f"the cell printed more than {_size(limits.output_bytes)}; its output was cut "
                   "there and the cell interrupted")
        cell.outputs.append(error_output(OUTPUT_CUT, message))
        outcome.status, outcome.message = "output-cut", f"{OUTPUT_CUT}: {message}"
    reply = (runner.last_reply or {}).get("content", {})
    if reply.get("status") == "error" and outcome.status == "ok":
        ename = reply.get("ename", "")
        outcome.status = "timeout" if ename == CELL_HUNG else "error"
        outcome.message = f"{ename}: {reply.get('evalue', '')}"[:300]
    return ""


async def _replace_kernel(runner, kernels: Kernels, files, nb, replayable: list[int], deadline: float,
                          limit_of) -> str:
    """A fresh kernel with the notebook's state rebuilt: the earlier non-test cells run again
    (their recorded outputs are kept).  Returns why the notebook must stop, or ""."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    try:
        await _use_kernel(runner, kernels)
    except RuntimeError as exc:
        return str(exc)
    _write_files(runner, files)
    for index in replayable:
        remaining = deadline - time.monotonic()
        if remaining < 1:
            return "the notebook ran past its time limit while its earlier cells ran again"
        original = nb.cells[index]
        runner.timeout = max(1, int(min(limit_of(index), remaining)))
        runner.reset_cell()
        try:
            await asyncio.wait_for(runner.async_execute_cell(copy.deepcopy(original), index),
                                   runner.timeout + IOPUB_TIMEOUT + 10)
        except (DeadKernelError, CellTimeoutError, asyncio.TimeoutError):
            await _drop_kernel(runner)
            return f"the kernel failed again while cell {index} ran again after a crash"
        finally:
            nb.cells[index] = original
    return ""


async def execute_unit(unit: WorkUnit, kernels: Kernels) -> UnitResult:
    start = time.perf_counter()
    result = UnitResult(unit.assignment, unit.student, sandboxed=kernels.launcher.sandboxed,
                        whole_kernel=kernels.launcher.whole_kernel)
    for work in unit.notebooks:
        try:
            result.notebooks.append(await execute_notebook(work, unit.files, unit.limits, kernels))
        except Exception as exc:  # the grader's own trouble: this notebook only
            result.notebooks.append(NotebookResult(work.name, error=f"{type(exc).__name__}: {exc}"))
    result.seconds = time.perf_counter() - start
    return result


# -- prepare (the writer) -----------------------------------------------------------------------

def digest(folder: Path) -> str:
    """A fingerprint of everything in a submission folder (names and bytes)."""
    h = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(folder)).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


class PreparationError(Exception):
    """A notebook that cannot be made into work (not JSON, not a notebook …); the message says so."""


def sanitize_preprocessors(config) -> list:
    """nbgrader's Autograde sanitising steps, as the workspace configures them."""
    from nbgrader.converters import Autograde
    from traitlets.utils.importstring import import_item

    classes = Autograde(config=config).sanitize_preprocessors
    return [(import_item(c) if isinstance(c, str) else c)(config=config) for c in classes]


def record_preprocessors(config) -> list:
    """nbgrader's Autograde steps after execution (everything but Execute), as configured."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute
    from traitlets.utils.importstring import import_item

    classes = [import_item(c) if isinstance(c, str) else c for c in Autograde(config=config).autograde_preprocessors]
    return [c(config=config) for c in classes if not issubclass(c, Execute)]


def read_submitted_notebook(path: Path):
    """The submitted notebook as nbformat v4, or PreparationError with a reason a human can act on."""
    import nbformat

    data = path.read_bytes()
    if not data.strip():
        raise PreparationError(f"{path.name} is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PreparationError(f"{path.name} is not a text file (binary content)") from None
    try:
        json.loads(text)
    except ValueError as exc:
        raise PreparationError(f"{path.name} is not valid JSON ({exc})") from None
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        raise PreparationError(f"{path.name} is not a valid notebook "
                               f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None
    return nb


def prepare_notebook(nb, name: str, assignment: str, student: str, db_url: str, preprocessors,
                     source=None, known=None) -> NotebookWork:
    """Sanitise ``nb`` as nbgrader's Autograde does and note which cells are tests and answers,
    which are skipped and each cell's time limit (:func:`plan_cells`, from the ``source``
    notebook).  ``known``: the ids the gradebook knows; a cell claiming another id, or a copy of
    a cell, loses its nbgrader metadata first (``cells.drop_foreign_cells``)."""
    import nbformat
    from nbgrader import utils

    from ..cells import drop_foreign_cells

    if known is not None:
        drop_foreign_cells(nb, known)
    resources = {"nbgrader": {"notebook": name, "assignment": assignment, "student": student,
                              "db_url": db_url}, "unique_key": name}
    for pp in preprocessors:
        nb, resources = pp(nb, resources)
    tests = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and utils.is_grade(c)]
    answers = [i for i, c in enumerate(nb.cells) if utils.is_solution(c) and not utils.is_grade(c)]
    skip, unscored, timeouts = plan_cells(nb, source)
    return NotebookWork(name, nbformat.writes(nb), tests, answers, skip, unscored, timeouts,
                        trusted_imports(source, nb))


def trusted_imports(source, nb) -> list[str]:
    """The installed modules the instructor's code imports: every code cell of the ``source``
    notebook but the answers, else the locked cells of the sanitised ``nb`` (restored from the
    gradebook).  The trusted checker imports these itself for a test's names."""
    from ..cells import is_answer, is_locked
    from ..imports import modules_loaded, notebook_imports

    if source is not None:
        found = notebook_imports(source, lambda cell: not is_answer(cell))
    else:
        found = notebook_imports(nb, lambda cell: is_locked(cell) and not is_answer(cell))
    return installed_modules(modules_loaded(found))


def _code_cells(nb) -> list:
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]


def plan_cells(nb, source=None) -> tuple[list[int], list[int], dict[int, float]]:
    """How grading runs the sanitised notebook ``nb``: the cells it skips, the code cells no
    score depends on, and the cells with a time limit of their own (index -> seconds).

    Only the ``source`` notebook (the instructor's) is read for this, by grade_id, never the
    submission's own metadata.  A cell's limit is its source cell's ``"gradlab": {"timeout"}``,
    else the source notebook's ``"gradlab": {"cell_timeout"}``, else the workspace's.  A cell is
    skipped when its source cell says ``"gradlab": {"grading": "skip"}``, it is a locked lecture
    cell with the source's code, and no cell that runs after it may read a name it binds — this
    submission's cells included (:func:`gradlab_grader.execution.dataflow.skipped`)."""
    from ..cells import cells_by_id, grade_id, is_answer, is_locked, is_test, skip_when_grading, time_limit
    from . import dataflow

    given = cells_by_id(source) if source is not None else {}
    code = _code_cells(nb)
    facts = [dataflow.names(c.source) for _, c in code]
    scored = {k for k, (_, c) in enumerate(code) if is_test(c) or is_answer(c)}

    def lecture(cell) -> bool:
        mine = given.get(grade_id(cell))
        return (mine is not None and skip_when_grading(mine) and not (is_test(mine) or is_answer(mine))
                and is_locked(cell) and cell.source == mine.source)

    skip = dataflow.skipped(facts, {k for k, (_, c) in enumerate(code) if k not in scored and lecture(c)})
    needed = dataflow.depended_on(facts, scored, skip)
    default = time_limit(source, "cell_timeout") if source is not None else None
    timeouts = {}
    for i, cell in code:
        own = given.get(grade_id(cell))
        limit = (time_limit(own) if own is not None else None) or default
        if limit:
            timeouts[i] = limit
    return ([code[k][0] for k in sorted(skip)],
            [code[k][0] for k in range(len(code)) if k not in needed and k not in skip], timeouts)


def check_source(source) -> list[str]:
    """What is wrong with the gradlab metadata of a source notebook (empty: nothing), for the
    release to refuse: a limit that is not a positive number, a skip on a test, an answer or an
    unlocked cell, a skipped cell a later cell needs, or one that changes what it did not bind."""
    from ..cells import GRADING_SKIP, grade_id, gradlab_meta, is_answer, is_locked, is_test, time_limit
    from . import dataflow

    problems = []
    for node, key, where in [(source, "cell_timeout", "the notebook")] + [
            (c, "timeout", f"cell {grade_id(c) or i}") for i, c in enumerate(source.cells)]:
        try:
            time_limit(node, key)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    code = _code_cells(source)
    marked = set()
    for k, (i, cell) in enumerate(code):
        name = grade_id(cell) or f"cell {i}"
        choice = gradlab_meta(cell).get("grading")
        if choice is None:
            continue
        if choice != GRADING_SKIP:
            problems.append(f'{name}: "gradlab": {{"grading": {choice!r}}} is not "{GRADING_SKIP}"')
        elif is_test(cell) or is_answer(cell) or not is_locked(cell):
            problems.append(f"{name}: only a locked lecture cell can be skipped while grading, not a test, "
                            "an answer or an unlocked cell")
        elif dataflow.effects_elsewhere(cell.source):
            problems.append(f"{name} is skipped while grading but changes what it did not bind "
                            f"({', '.join(dataflow.effects_elsewhere(cell.source)[:3])}): later cells would see "
                            "the difference")
        else:
            marked.add(k)
    facts = [dataflow.names(c.source) for _, c in code]
    skip = dataflow.skipped(facts, marked)
    running = set(range(len(code))) - skip
    for k in sorted(marked - skip):
        found = dataflow.users(facts, k, running)
        readers = [grade_id(code[j][1]) or f"cell {code[j][0]}" for j in found]
        shared = sorted(set().union(*(facts[j].reads | facts[j].later for j in found)) & facts[k].binds)
        what = ", ".join(shared[:5]) or "any name: a cell that cannot be read statically"
        problems.append(f"{grade_id(code[k][1])} is skipped while grading, but {', '.join(readers[:3])} "
                        f"{'reads' if len(readers) == 1 else 'read'} what it binds ({what}): "
                        "mark those cells to be skipped too, or do not skip it")
    return problems
