"""Hostile notebooks run through the sandboxed kernel manager (nbclient, as the grader runs them).

Each test executes a few small cells in a kernel from ``gradlab_grader.kernel.sandbox`` and checks what
the grader machine sees afterwards: files it owns unchanged, no connection accepted, processes
gone.  Limits are
set small so that each bomb goes off in well under a second.

Without bubblewrap these tests are skipped on a laptop and FAIL in CI (``CI=true``).
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell, new_notebook

from gradlab_grader.kernel import bubblewrap, resources, sandbox
from gradlab_grader.kernel import launcher as kernel_launcher
from gradlab_grader.kernel import limits as kernellimits
from gradlab_grader.kernel.outputcap import OutputBudget, OutputCap

from .conftest import HOLD, processes_of

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

if not bubblewrap.available():
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI needs the sandbox: {bubblewrap.unavailable_reason()}", pytrace=False)
    pytest.skip(bubblewrap.unavailable_reason(), allow_module_level=True)

class Client(OutputCap, NotebookClient):
    pass


# Each test runs twice: a kernel in a sandbox of its own, and a kernel forked from a kernel
# template (gradlab_grader.kernel.factory, what a root grader's workers use)
MODE = {"factory": False}


@pytest.fixture(scope="module", params=["own-sandbox", "factory"], autouse=True)
def kernel_mode(request):
    MODE["factory"] = request.param == "factory"
    yield request.param
    MODE["factory"] = False


def run(cells, workdir: Path, limits=None, hidden=(), expose=(), output_limit=None, timeout=60,
        require=True):
    """Execute ``cells``; returns (notebook, kernel manager, notes: why the kernel died, if it did).
    ``timeout``: each cell's limit, generous (a loaded machine); only a test of the limit
    itself shortens it, with an endless cell."""
    if MODE["factory"]:
        # a template per call (hidden and expose shape its sandbox); the kernel works in a
        # folder of the template's, copied back into ``workdir`` for the checks
        launcher = kernel_launcher.launcher(True if require else None, limits=limits, hidden=hidden, expose=expose,
                                    template=True)
        own = launcher.make_workdir()
        shutil.copytree(workdir, own, dirs_exist_ok=True)
        try:
            return _run(cells, own, limits, hidden, expose, output_limit, timeout, launcher, require)
        finally:
            shutil.copytree(own, workdir, dirs_exist_ok=True)
            launcher.close()
    return _run(cells, workdir, limits, hidden, expose, output_limit, timeout, require=require)


def _run(cells, workdir: Path, limits, hidden, expose, output_limit, timeout, launcher=None,
         require=True):
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    km = sandbox.sandboxed_kernel_manager(workdir, limits or resources.Limits(), hidden=hidden,
                                          expose=expose, require=require,
                                          template=launcher.template if launcher else None)
    client = Client(nb, km=km, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
                    budget=OutputBudget(output_limit) if output_limit is not None else None,
                    kernel=sandbox.KernelHandle.of(km))
    notes = {}

    async def go():
        try:
            async with client.async_setup_kernel():
                for i, cell in enumerate(nb.cells):
                    try:
                        await client.async_execute_cell(cell, i)
                    except DeadKernelError:
                        notes["died"] = km.exit_reason()
                        return
        finally:
            await km.shutdown_kernel(now=True)  # nbclient leaves a kernel it was given running

    asyncio.run(go())
    return nb, km, notes


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def error(cell) -> str:
    """``ename: evalue`` of the cell's error output, or ''."""
    errs = [o for o in cell.outputs if o.output_type == "error"]
    return f"{errs[0].ename}: {errs[0].evalue}" if errs else ""


@pytest.fixture
def workdir(tmp_path) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    return wd


# -- file system ---------------------------------------------------------------------------------

def test_only_the_working_copy_is_writable(workdir, tmp_path):
    canary = tmp_path / "canary.txt"          # the grader's file, beside the working copy
    canary.write_text("grader's")
    visible = tmp_path / "data"               # shown to the kernel, read-only
    visible.mkdir()
    (visible / "given.txt").write_text("given")
    nb, _, _ = run([
        "open('mine.txt', 'w').write('ok'); print(open('mine.txt').read())",
        f"open({str(canary)!r}, 'w').write('student')",
        f"open({str(visible / 'given.txt')!r}, 'a').write('student')",
        "open('/usr/lib/gradlab-was-here', 'w')",
        "open('/etc/passwd', 'a')",
        "import os; os.getuid() != 0 and print('not root')",
    ], workdir, expose=[visible])
    assert text(nb.cells[0]) == "ok\n"
    # the working copy is a tmpfs of its own where the machine allows it: nothing on the host disk
    assert (workdir / "mine.txt").exists() == (not kernellimits.available())
    # the working copy's parent is an empty stand-in: the grader's file is not there at all
    assert error(nb.cells[1]).split(":")[0] in ("PermissionError", "FileNotFoundError")
    assert "Read-only" in error(nb.cells[2]) or error(nb.cells[2]).startswith("PermissionError")
    assert error(nb.cells[3]).split(":")[0] in ("OSError", "PermissionError")
    assert error(nb.cells[4]).split(":")[0] in ("OSError", "PermissionError")
    assert text(nb.cells[5]) == "not root\n"
    assert canary.read_text() == "grader's"
    assert (visible / "given.txt").read_text() == "given"
    assert not Path("/usr/lib/gradlab-was-here").exists()


def test_deleting_home_leaves_the_real_home_alone(workdir):
    canary = Path.home() / f".gradlab-canary-{uuid.uuid4().hex}"
    canary.write_text("keep me")
    try:
        nb, _, _ = run([
            "import os, shutil\nhome = os.path.expanduser('~')\nprint(sorted(os.listdir(home)))",
            "for name in os.listdir(home):\n"
            "    shutil.rmtree(os.path.join(home, name), ignore_errors=True)\n"
            f"print(os.path.exists(os.path.join(home, {canary.name!r})))",
        ], workdir)
        assert canary.name not in text(nb.cells[0])
        assert error(nb.cells[1]) == "" and text(nb.cells[1]) == "False\n"
        assert canary.read_text() == "keep me"
    finally:
        canary.unlink()


def test_instructor_files_are_not_visible(workdir, tmp_path, repo):
    course = tmp_path / "course"              # a workspace inside a directory the kernel sees
    (course / "source" / "a1").mkdir(parents=True)
    (course / "source" / "a1" / "a1.ipynb").write_text("SECRET SOLUTION")
    (course / "gradebook.db").write_text("SECRET GRADES")
    (course / "release").mkdir()
    (course / "release" / "a1.ipynb").write_text("released")
    solution = next((repo / "solutions").glob("*/*.ipynb"))
    nb, _, _ = run([
        f"print(open({str(course / 'release' / 'a1.ipynb')!r}).read())",
        f"print(repr(open({str(course / 'gradebook.db')!r}).read()))",
        f"import os; print(os.listdir({str(course / 'source')!r}))",
        f"print(open({str(course / 'source' / 'a1' / 'a1.ipynb')!r}).read())",
        f"print(open({str(solution)!r}).read()[:50])",       # the repository's solutions/
        f"import os; print(os.path.exists({str(repo / 'solutions')!r}))",
        f"import sqlite3; sqlite3.connect({str(course / 'gradebook.db')!r}).execute('select 1')",
    ], workdir, expose=[course], hidden=[course / "source", course / "gradebook.db"])
    everything = "".join(text(c) + error(c) for c in nb.cells)
    assert "SECRET" not in everything
    assert text(nb.cells[0]) == "released\n"      # what is not hidden stays readable
    assert text(nb.cells[1]) == "''\n"            # the gradebook reads as an empty file
    assert error(nb.cells[2]).startswith("PermissionError")
    assert error(nb.cells[3]).split(":")[0] in ("PermissionError", "FileNotFoundError")
    assert error(nb.cells[4]).startswith("FileNotFoundError")
    assert text(nb.cells[5]) == "False\n"

# -- network -------------------------------------------------------------------------------------

def test_no_loopback_connection(workdir):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        nb, _, _ = run([
            f"import socket\ns = socket.socket(); s.settimeout(3)\ns.connect(('127.0.0.1', {port}))",
            "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=3)",
        ], workdir)
        assert error(nb.cells[0]).split(":")[0] in ("ConnectionRefusedError", "OSError")
        assert error(nb.cells[1]).startswith("URLError")
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()


# -- resources -----------------------------------------------------------------------------------

def test_fork_bomb_is_contained(workdir):
    limits = resources.Limits(processes=24)
    nb, km, _ = run([
        "import os, time\nn = 0\ntry:\n"
        "    while n < 1000:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30); os._exit(0)\n"
        "        n += 1\n"
        "except OSError as e:\n"
        "    print('stopped after', n, type(e).__name__)",
        "print(1 + 1)",
    ], workdir, limits)
    stopped = text(nb.cells[0]).split()
    assert stopped[:2] == ["stopped", "after"] and int(stopped[2]) < 24, stopped
    assert text(nb.cells[1]) == "2\n"      # the kernel itself still works
    # the sleeping children died with the sandbox, and the grader can still start processes
    if km.sandbox_uid is not None:
        for _ in range(50):        # the pid namespace is torn down as the kernel exits
            if processes_of(km.sandbox_uid) == 0:
                break
            time.sleep(0.1)
        assert processes_of(km.sandbox_uid) == 0
    assert subprocess.run(["true"]).returncode == 0


def test_memory_bomb_gets_memory_error_and_the_kernel_survives(workdir):
    limits = resources.Limits(memory_bytes=int(1.5 * resources.GiB))
    nb, _, _ = run([
        "x = bytearray(4 * 2**30)",
        "hog = []\nwhile True:\n    hog.append(bytearray(64 * 2**20))",
        "del hog; print('alive')",
    ], workdir, limits)
    assert error(nb.cells[0]).startswith("MemoryError")
    assert error(nb.cells[1]).startswith("MemoryError")
    assert text(nb.cells[2]) == "alive\n"


def test_cpu_limit_stops_the_kernel_with_a_reason(workdir):
    _, _, notes = run(["while True:\n    pass", "print('never')"], workdir,
                      resources.Limits(cpu_seconds=1))
    assert "CPU-time limit (1 s)" in notes["died"]


def test_segfault_is_reported_as_a_crash(workdir):
    _, _, notes = run(["import ctypes\nctypes.string_at(0)", "print('never')"], workdir)
    assert "segmentation fault" in notes["died"]


def test_file_size_bomb_stops_at_the_limit(workdir):
    limits = resources.Limits(file_bytes=resources.MiB)
    nb, _, _ = run([
        "with open('big.bin', 'wb') as f:\n    for _ in range(100):\n        f.write(b'0' * 2**20)",
        "print('alive')",
    ], workdir, limits)
    assert "File too large" in error(nb.cells[0])
    big = workdir / "big.bin"
    assert not big.exists() or big.stat().st_size <= resources.MiB
    assert text(nb.cells[1]) == "alive\n"


def needs_whole_kernel_limits():
    """Skip on a machine without them (a user grader, no cgroup v1); CI (root) must have them."""
    if not kernellimits.available():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI needs whole-kernel limits: {kernellimits.unavailable_reason()}")
        pytest.skip(kernellimits.unavailable_reason())


def test_many_files_stop_at_the_working_copy_size(workdir):
    """Files each below the file-size limit still stop at the working copy's size, with
    ENOSPC in the cell; the host disk gets none of it, and the kernel goes on."""
    needs_whole_kernel_limits()
    (workdir / "given.txt").write_text("submitted")   # what the grader put there is kept
    limits = resources.Limits(file_bytes=16 * resources.MiB, workdir_bytes=32 * resources.MiB)
    nb, _, _ = run([
        "print(open('given.txt').read())",
        "written = 0\ntry:\n    for i in range(6):\n"
        "        with open(f'big{i}.bin', 'wb') as f:\n"
        "            f.write(b'0' * (12 * 2**20))\n"
        "        written += 1\n"
        "finally:\n    print(written)",
        "import os; os.remove('big0.bin'); open('small.txt', 'w').write('room again'); print('alive')",
    ], workdir, limits)
    assert text(nb.cells[0]) == "submitted\n"
    assert error(nb.cells[1]) == "OSError: [Errno 28] No space left on device"
    assert text(nb.cells[1]) == "2\n"        # 2 x 12 MiB fit in 32 MiB, a third does not
    assert text(nb.cells[2]) == "alive\n"
    assert sorted(p.name for p in workdir.iterdir()) == ["given.txt"]


def test_a_kernel_past_its_memory_limit_is_stopped_with_the_reason(workdir):
    """600 MiB fit the address-space limit (2 GiB) but not the kernel's 512 MiB: the kernel is
    stopped, and both its cell and the reason name the limit."""
    needs_whole_kernel_limits()
    limits = resources.Limits(kernel_memory_bytes=512 * resources.MiB)
    nb, _, notes = run(["x = b'1' * (600 * 2**20)", "print('never')"], workdir, limits, timeout=60)
    assert "past the kernel's memory limit (512 MiB)" in notes["died"], notes["died"]
    assert "went past its memory limit (512 MiB)" in text(nb.cells[0])


def test_children_share_the_kernels_memory_limit(workdir):
    """Four children of 200 MiB each fit their address-space limit one by one, but not the
    kernel's 512 MiB together: the children past it are stopped, and the kernel goes on (or,
    were it the one stopped, the reason names the limit)."""
    needs_whole_kernel_limits()
    limits = resources.Limits(kernel_memory_bytes=512 * resources.MiB)
    nb, km, notes = run([HOLD, "print('alive')"], workdir, limits, timeout=60)
    if "died" in notes:
        assert "memory limit (512 MiB)" in notes["died"], notes["died"]
        return
    held, rest = text(nb.cells[0]).split(" ", 1)
    codes, note = rest.split("\n", 1)
    # the kernel's OOM killer may also stop a child that already held its block (it picks by
    # size, not by arrival): what holds is that the children alive at the end fit the limit
    exits = ast.literal_eval(codes)
    survivors = exits.count(0)
    assert survivors * 200 < 512 and survivors <= int(held), text(nb.cells[0])
    assert exits.count(-9) == 4 - survivors, codes    # the others were killed (SIGKILL)
    assert "went past its memory limit (512 MiB)" in note
    assert text(nb.cells[1]) == "alive\n"


def test_print_bomb_output_is_capped(workdir):
    nb, _, _ = run([
        "import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 10000)",
        "print('next cell')",
    ], workdir, output_limit=50_000)
    kept = text(nb.cells[0])
    assert 40_000 < len(kept) < 60_000 and "output beyond" in kept
    assert text(nb.cells[1]) == "next cell\n"


def test_interrupt_and_restart(workdir):
    nb, km, _ = run(["import time\nwhile True:\n    time.sleep(1)", "print('after')"], workdir, timeout=10)
    assert error(nb.cells[0]).startswith("KeyboardInterrupt")
    assert text(nb.cells[1]) == "after\n"


def test_without_bubblewrap_limits_still_hold_and_it_says_so(workdir, monkeypatch):
    """A laptop without bwrap: one loud warning, the limits still work."""
    monkeypatch.setattr(bubblewrap, "_probe", lambda: "bubblewrap (bwrap) is not installed")
    monkeypatch.setattr(bubblewrap, "_warned", False)
    with pytest.warns(bubblewrap.SandboxUnavailable, match="WITHOUT the sandbox") as caught:
        sandbox.sandboxed_kernel_manager(workdir)
        sandbox.sandboxed_kernel_manager(workdir)
    assert len(caught) == 1                               # once per run, not per kernel
    with pytest.raises(RuntimeError, match="bubblewrap"):
        kernel_launcher.launcher(True)
    nb, km, _ = run(["x = bytearray(4 * 2**30)"], workdir, resources.Limits(memory_bytes=int(1.5 * resources.GiB)),
                    require=False)
    assert not km.isolate
    assert error(nb.cells[0]).startswith("MemoryError")


def test_without_whole_kernel_limits_per_process_limits_hold_and_it_says_so(workdir, monkeypatch):
    """A user grader (or no cgroup v1): the run warns once and its summary says so; the
    per-process limits still hold, and the working copy is the host folder."""
    from gradlab_grader import pipeline
    from gradlab_grader.execution.driver import RunStats

    why = "the grader does not run as root (only root may mount a tmpfs and make a cgroup)"
    monkeypatch.setattr(kernellimits, "_probe", lambda: why)
    said = re.escape("limits hold per process only: " + why)
    with pytest.warns(bubblewrap.SandboxUnavailable, match=said):
        pipeline.say_once_if_unsandboxed(None)
    summary = {whole: RunStats(sandboxed=True, whole_kernel=whole).summary() for whole in (True, False)}
    assert "sandbox on, limits per process only" in summary[False]
    assert "sandbox on, limits per kernel" in summary[True]
    nb, km, _ = run(["open('mine.txt', 'w').write('ok')", "x = bytearray(4 * 2**30)"], workdir,
                    resources.Limits(memory_bytes=int(1.5 * resources.GiB)))
    assert km.cgroup is None and (workdir / "mine.txt").read_text() == "ok"
    assert error(nb.cells[1]).startswith("MemoryError")
