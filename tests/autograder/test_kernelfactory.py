"""Kernels forked from one template (gradlab_grader.kernel.factory) are as separate as kernels
in sandboxes of their own: each its own uid, files, /tmp, $HOME, network; no capability left;
the template outlives whatever a kernel does, and dies with its worker.

The test_sandbox.py hostile cells run on forked kernels too; this file checks what only a
shared template could get wrong: one kernel reaching another.  As root under bubblewrap only
(a user's grader keeps one sandbox per kernel); skipped elsewhere, and a failure in CI.
"""

from __future__ import annotations

import ast
import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from gradlab_grader.kernel import bubblewrap, resources
from gradlab_grader.kernel import launcher as kernel_launcher

from .conftest import HOLD, processes_of

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

if not bubblewrap.available() or os.geteuid() != 0:
    why = bubblewrap.unavailable_reason() or "the kernel factory sandboxes kernels only for a root grader"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI needs the sandbox as root: {why}", pytrace=False)
    pytest.skip(why, allow_module_level=True)


class Kernel:
    """One forked kernel with its client, to run code in it cell by cell."""

    def __init__(self, launcher):
        self.workdir = launcher.make_workdir()
        self.km = launcher.kernel_manager(self.workdir)
        nb = new_notebook()
        nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        self.client = NotebookClient(nb, km=self.km, timeout=20, allow_errors=True)

    async def start(self):
        await self.km.start_kernel(cwd=str(self.workdir))
        await self.client.async_start_new_kernel_client()
        return self

    async def run(self, code: str):
        """(stdout text, 'ename: evalue' or '', outputs) of one cell."""
        cell = new_code_cell(code)
        self.client.nb.cells.append(cell)
        await self.client.async_execute_cell(cell, len(self.client.nb.cells) - 1)
        out = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        err = next((f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"), "")
        return out, err, cell.outputs

    async def stop(self):
        if self.client.kc is not None:
            self.client.kc.stop_channels()
        await self.km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def launcher():
    launch = kernel_launcher.launcher(True, template=True, preload=["numpy", "matplotlib.pyplot"],
                              limits=resources.Limits(processes=24))
    yield launch
    launch.close()


def go(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def test_two_kernels_cannot_reach_each_other(launcher):
    async def scenario():
        a, b = await Kernel(launcher).start(), await Kernel(launcher).start()
        try:
            await a.run("open('secret.txt', 'w').write('A'); import os; print(os.getpid())")
            pid_a = a.km.provisioner.pid      # in the template's pid namespace, as b sees it
            base = os.path.dirname(str(a.workdir))
            checks = {
                "uids": "import os; print(os.getuid())",
                "read": f"print(open({str(a.workdir / 'secret.txt')!r}).read())",
                "socket dir": f"import os; print(os.listdir({a.km.rundir!r}))",
                "base": f"import os; print(os.listdir({base!r}))",
                "signal": f"import os, signal; os.kill({pid_a}, signal.SIGKILL)",
                "ptrace": ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                           f"r = libc.ptrace(16, {pid_a}, 0, 0)\n"   # PTRACE_ATTACH
                           "print(r, os.strerror(ctypes.get_errno()))"),
                "proc": f"import os; print(os.path.exists('/proc/{pid_a}'))",
            }
            got = {name: await b.run(code) for name, code in checks.items()}
            alive, _, _ = await a.run("print('A alive')")
            return a, b, got, alive
        finally:
            await a.stop()
            await b.stop()

    a, b, got, alive = go(scenario())
    assert a.km.sandbox_uid != b.km.sandbox_uid
    assert got["uids"][0] == f"{b.km.sandbox_uid}\n"
    # a's working copy and socket folder do not exist in b's file system at all
    assert got["read"][1].split(":")[0] in ("FileNotFoundError", "PermissionError"), got["read"]
    assert got["socket dir"][1].split(":")[0] in ("FileNotFoundError", "PermissionError"), got["socket dir"]
    # the base folder shows b its own folders only
    listed = got["base"][0] + got["base"][1]
    assert a.workdir.name not in listed and os.path.basename(a.km.rundir) not in listed
    assert got["signal"][1].startswith(("PermissionError", "ProcessLookupError")), got["signal"]
    assert got["ptrace"][0].startswith("-1 "), got["ptrace"]
    assert got["proc"][0] == "False\n"          # hidepid: other uids' processes are not listed
    assert alive == "A alive\n"


def test_a_kernel_past_its_memory_limit_costs_its_neighbour_nothing():
    """Two kernels of one template: the children of one go past its 512 MiB and are stopped;
    the other, holding memory of its own meanwhile, keeps it and runs on."""
    from gradlab_grader.kernel import limits as kernellimits

    if not kernellimits.available():
        pytest.skip(kernellimits.unavailable_reason())
    launch = kernel_launcher.launcher(True, template=True, preload=["numpy"],
                              limits=resources.Limits(kernel_memory_bytes=512 * resources.MiB))

    async def scenario():
        a, b = await Kernel(launch).start(), await Kernel(launch).start()
        try:
            await a.run("keep = b'1' * (150 * 2**20)")
            bomb, _, _ = await b.run(HOLD)
            alive, _, _ = await a.run("print(len(keep) // 2**20, 'MiB kept')")
            return a, bomb, alive
        finally:
            await a.stop()
            await b.stop()

    try:
        a, bomb, alive = go(scenario())
    finally:
        launch.close()
    held, codes = bomb.split("\n")[0].split(" ", 1)
    # the OOM killer picks by size, not by arrival: a child that already held its block may be
    # the one stopped; what holds is that the children alive at the end fit the limit
    exits = ast.literal_eval(codes)
    survivors = exits.count(0)
    assert survivors * 200 < 512 and survivors <= int(held), bomb
    assert exits.count(-9) == 4 - survivors, bomb
    assert alive == "150 MiB kept\n"


def test_files_left_in_tmp_home_and_shm_are_gone_for_the_next_kernel(launcher):
    plant = ("import os\nfor d in ('/tmp', os.path.expanduser('~'), '/dev/shm'):\n"
             "    p = os.path.join(d, 'left-behind.txt')\n"
             "    open(p, 'w').write('from the last kernel'); os.chmod(p, 0o666)\n"
             "print('planted')")
    look = ("import os\nprint([d for d in ('/tmp', os.path.expanduser('~'), '/dev/shm')\n"
            "       if os.path.exists(os.path.join(d, 'left-behind.txt'))])")

    async def scenario():
        first = await Kernel(launcher).start()
        planted = await first.run(plant)
        second = await Kernel(launcher).start()   # while the first still runs, then after it
        during = await second.run(look)
        await first.stop()
        after = await second.run(look)
        await second.stop()
        return planted, during, after

    planted, during, after = go(scenario())
    assert planted[0] == "planted\n", planted
    assert during[0] == "[]\n" and after[0] == "[]\n", (during, after)


def test_a_forked_kernel_has_no_privilege_and_no_network(launcher):
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    port = server.getsockname()[1]

    async def scenario():
        k = await Kernel(launcher).start()
        try:
            status = await k.run("print(open('/proc/self/status').read())")
            net = await k.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
            setuid = await k.run("import os; os.setuid(0)")
            # PR_GET_PDEATHSIG: the kernel dies with its template even after its uid changed
            death = await k.run("import ctypes\nsig = ctypes.c_int()\n"
                                "ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)\nprint(sig.value)")
            return status, net, setuid, death
        finally:
            await k.stop()

    try:
        status, net, setuid, death = go(scenario())
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
    fields = dict(line.split(":\t", 1) for line in status[0].splitlines() if ":\t" in line)
    for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(fields[cap], 16) == 0, (cap, fields[cap])
    assert fields["NoNewPrivs"].strip() == "1"
    assert net[1].split(":")[0] in ("OSError", "ConnectionRefusedError"), net
    assert setuid[1].startswith("PermissionError"), setuid
    assert death[0] == f"{int(signal.SIGKILL)}\n", death


def test_the_template_outlives_crashing_kernels(launcher):
    crashes = {
        "segfault": ("import ctypes; ctypes.string_at(0)", "segmentation fault"),
        "os._exit": ("import os; os._exit(3)", "exited with status 3"),
        "fork bomb": ("import os, time\nwhile True:\n    try:\n        os.fork()\n"
                      "    except OSError:\n        os._exit(9)", "exited with status 9"),
    }

    async def scenario():
        template = launcher.template.factory.proc
        reasons = {}
        for name, (code, _) in crashes.items():
            k = await Kernel(launcher).start()
            try:
                await k.run(code)
            except Exception as exc:   # DeadKernelError: nbclient noticed the kernel died
                reasons[name] = (type(exc).__name__, k.km.exit_reason())
            else:
                reasons[name] = ("no error", k.km.exit_reason())
            uid = k.km.sandbox_uid
            await k.stop()
            reasons[name] += (uid,)
        k = await Kernel(launcher).start()
        still, _, _ = await k.run("print(6 * 7)")
        await k.stop()
        return template, reasons, still

    template, reasons, still = go(scenario())
    for name, (_, words) in crashes.items():
        died, reason, uid = reasons[name]
        assert died == "DeadKernelError" and words in (reason or ""), (name, died, reason)
        for _ in range(50):   # whatever the kernel left behind is killed with it
            if processes_of(uid) == 0:
                break
            time.sleep(0.1)
        assert processes_of(uid) == 0, name
    assert launcher.template.factory.proc is template and template.poll() is None
    assert still == "42\n"


PLOT_CELLS = (
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])",   # shown by the post-execute flush
    "plt.figure(); plt.plot([3, 1]); plt.show()",
    "fig, ax = plt.subplots(); ax.plot([0, 1]); plt.close(fig); print('closed')",
    "print(sorted(cb.__name__ for cb in get_ipython().events.callbacks['post_execute']))",
)


@pytest.mark.parametrize("factory, preload", [
    (False, []),
    (True, ["numpy", "matplotlib.pyplot"]),   # the backend is imported at the first figure
    (True, ["matplotlib.pyplot", "matplotlib_inline.backend_inline"]),  # its IPython hook
], ids=["fresh", "forked", "forked-with-backend"])                     # runs at start-up
def test_a_plot_shows_as_in_a_fresh_kernel(factory, preload, monkeypatch):
    """pyplot preloaded in the template: the inline backend (the grader's default) still
    flushes figures after each cell, with and without plt.show(), as in a fresh kernel."""
    monkeypatch.delenv("MPLBACKEND", raising=False)   # the test session's Agg is not the grader's
    launch = kernel_launcher.launcher(True, template=factory, preload=preload)

    async def scenario():
        k = await Kernel(launch).start()
        try:
            return [await k.run(code) for code in PLOT_CELLS]
        finally:
            await k.stop()

    try:
        implicit, shown, closed, callbacks = go(scenario())
    finally:
        launch.close()
    for outputs in (implicit[2], shown[2]):
        pngs = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.data]
        assert len(pngs) == 1, outputs
    assert [o.output_type for o in closed[2]] == ["stream"]
    assert "flush_figures" in callbacks[0], callbacks


def test_killing_the_worker_takes_template_and_kernels_with_it(tmp_path):
    script = textwrap.dedent("""
        import asyncio, os, sys, time
        from gradlab_grader.kernel import launcher as kernel_launcher
        launcher = kernel_launcher.launcher(True, template=True, preload=["numpy"])
        workdir = launcher.make_workdir()
        km = launcher.kernel_manager(workdir)
        asyncio.run(km.start_kernel(cwd=str(workdir)))
        print(launcher.template.factory.proc.pid, km.sandbox_uid, flush=True)
        # what the whole-kernel limits made (gradlab_grader.kernel.limits), if anything
        held = [km.workdir, launcher.template.base, *(km.cgroup.dirs.values() if km.cgroup else [])]
        print(" ".join(held) if km.cgroup else "", flush=True)
        time.sleep(600)
    """)
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        template, uid = map(int, worker.stdout.readline().split())
        held = worker.stdout.readline().split()
        if held:
            assert _mounted(held[0])
        for _ in range(100):                 # the kernel is running
            if processes_of(uid):
                break
            time.sleep(0.1)
        assert processes_of(uid) > 0
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        for _ in range(100):
            if processes_of(uid) == 0 and not os.path.exists(f"/proc/{template}"):
                break
            time.sleep(0.1)
        assert processes_of(uid) == 0, "a kernel outlived its worker"
        assert not _alive(template), "the template outlived its worker"
        # the working copy's tmpfs, the template's shared base and the kernel's cgroups go too
        for _ in range(100):
            if not any(_mounted(p) or os.path.exists(p) and p.startswith("/sys/") for p in held):
                break
            time.sleep(0.1)
        assert [p for p in held if _mounted(p) or os.path.exists(p) and p.startswith("/sys/")] == []
    finally:
        worker.kill()
        worker.wait()


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_the_template_forks_from_one_thread_with_its_modules(launcher):
    """fork() copies only the calling thread: a template with a second thread (BLAS, a zmq
    context) would hand kernels a half-copied state."""
    async def scenario():
        k = await Kernel(launcher).start()
        try:
            return await k.run("import sys; print('numpy' in sys.modules, 'matplotlib.pyplot' in sys.modules)")
        finally:
            await k.stop()

    out = go(scenario())
    ready = launcher.template.factory.ready
    assert ready["threads"] == 1 and ready["failed"] == [], ready
    assert out[0] == "True True\n"
