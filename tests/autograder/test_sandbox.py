"""Hostile notebooks run through the sandboxed kernel manager (nbclient, as the grader runs them).

Each test executes a few small cells in a kernel from ``gradlab_grader.kernel.sandbox`` and checks what
the grader machine sees afterwards: files it owns unchanged, no connection accepted, processes
gone, and — for the guard — wrong answers still failing with the tampering reported.  Limits are
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

from gradlab_grader.kernel import bubblewrap, guard, resources, sandbox
from gradlab_grader.kernel import launcher as kernel_launcher
from gradlab_grader.kernel import limits as kernellimits
from gradlab_grader.kernel.outputcap import OutputBudget, OutputCap

from .conftest import HOLD, processes_of

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

if not bubblewrap.available():
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI needs the sandbox: {bubblewrap.unavailable_reason()}", pytrace=False)
    pytest.skip(bubblewrap.unavailable_reason(), allow_module_level=True)

TEST = "# test\n"  # cells starting so are test cells: the guard runs before them


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
    """Execute ``cells``; returns (notebook, kernel manager, guard notes by cell index).
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
    hook, notes = guard.executor_hook(), {}

    async def go():
        try:
            async with client.async_setup_kernel():
                for i, cell in enumerate(nb.cells):
                    if cell.source.startswith(TEST):
                        notes[i] = await hook(client)
                    try:
                        await client.async_execute_cell(cell, i)
                    except DeadKernelError:
                        notes["died"] = km.exit_reason()
                        return
                    if cell.source.startswith(TEST):
                        notes[i, "after"] = await hook.after(client)
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
    nb, _, notes = run([
        f"print(open({str(course / 'release' / 'a1.ipynb')!r}).read())",
        f"print(repr(open({str(course / 'gradebook.db')!r}).read()))",
        f"import os; print(os.listdir({str(course / 'source')!r}))",
        f"print(open({str(course / 'source' / 'a1' / 'a1.ipynb')!r}).read())",
        f"print(open({str(solution)!r}).read()[:50])",       # the repository's solutions/
        f"import os; print(os.path.exists({str(repo / 'solutions')!r}))",
        f"import sqlite3; sqlite3.connect({str(course / 'gradebook.db')!r}).execute('select 1')",
        TEST + "pass",
    ], workdir, expose=[course], hidden=[course / "source", course / "gradebook.db"])
    everything = "".join(text(c) + error(c) for c in nb.cells)
    assert "SECRET" not in everything
    assert text(nb.cells[0]) == "released\n"      # what is not hidden stays readable
    assert text(nb.cells[1]) == "''\n"            # the gradebook reads as an empty file
    assert error(nb.cells[2]).startswith("PermissionError")
    assert error(nb.cells[3]).split(":")[0] in ("PermissionError", "FileNotFoundError")
    assert error(nb.cells[4]).startswith("FileNotFoundError")
    assert text(nb.cells[5]) == "False\n"
    # and each attempt is reported (at the guard check before the next test cell)
    note = notes[7] or ""
    assert f"tried to reach {course / 'gradebook.db'}" in note
    assert f"tried to reach {course / 'source'}" in note

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
    """A laptop without bwrap: one loud warning, the limits and the guard still work."""
    monkeypatch.setattr(bubblewrap, "_probe", lambda: "bubblewrap (bwrap) is not installed")
    monkeypatch.setattr(bubblewrap, "_warned", False)
    with pytest.warns(bubblewrap.SandboxUnavailable, match="WITHOUT the sandbox") as caught:
        sandbox.sandboxed_kernel_manager(workdir)
        sandbox.sandboxed_kernel_manager(workdir)
    assert len(caught) == 1                               # once per run, not per kernel
    with pytest.raises(RuntimeError, match="bubblewrap"):
        kernel_launcher.launcher(True)
    nb, km, notes = run([
        "x = bytearray(4 * 2**30)",
        "from gradlab import checks\nchecks.assert_close = lambda *a, **k: None",
        TEST + "checks.assert_close(1.0, 2.0)",
    ], workdir, resources.Limits(memory_bytes=int(1.5 * resources.GiB)), require=False)
    assert not km.isolate
    assert error(nb.cells[0]).startswith("MemoryError")
    assert "gradlab.checks.assert_close was replaced" in notes[2] and error(nb.cells[2])


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


# -- the guard -----------------------------------------------------------------------------------

IMPORTS = "import numpy as np\nfrom gradlab import checks\nimport gradlab.calculus as ref"
WRONG = "def double(x):\n    return 3 * x"
TESTS = {
    "compare": TEST + "checks.compare(double, lambda x: 2 * x, 3.0)",
    "assert_close": TEST + "checks.assert_close(double(3.0), 6.0)",
    "assert_allclose": TEST + "np.testing.assert_allclose(double(3.0), 6.0)",
    "abs": TEST + "assert abs(double(3.0) - 6.0) < 1e-9, 'wrong'",
}
# (attack cell, test it targets, words the guard's note must contain)
ATTACKS = {
    "alias": ("c = checks\nc.compare = lambda *a, **k: None", "compare",
              "gradlab.checks.compare was replaced"),
    "sys.modules": ("import sys, types\nfake = types.ModuleType('gradlab.checks')\n"
                    "fake.assert_close = lambda *a, **k: None\n"
                    "sys.modules['gradlab.checks'] = fake\nchecks = fake", "assert_close",
                    "sys.modules['gradlab.checks'] was replaced"),
    "__code__": ("checks.assert_close.__code__ = (lambda *a, **k: None).__code__", "assert_close",
                 "blocked: replacing gradlab.checks.assert_close.__code__"),
    "numpy.testing": ("np.testing.assert_allclose = lambda *a, **k: None", "assert_allclose",
                      "numpy.testing.assert_allclose was replaced"),
    "builtins": ("import builtins\nbuiltins.abs = lambda x: 0.0", "abs",
                 "builtins.abs was replaced"),
    "rebound name": ("class Lenient:\n    def __getattr__(self, name):\n"
                     "        return lambda *a, **k: None\nchecks = Lenient()", "compare",
                     "the name 'checks' no longer meant gradlab.checks"),
    "module class": ("import types\nclass Lenient(types.ModuleType):\n"
                     "    def __getattribute__(self, name):\n"
                     "        return lambda *a, **k: None\nchecks.__class__ = Lenient", "compare",
                     "the class of module gradlab.checks was swapped"),
    "shadowed builtin": ("vars(checks)['isinstance'] = lambda *a: True\n"
                         "vars(checks)['len'] = lambda x: 0", "compare",
                         "gradlab.checks.isinstance was added, shadowing the builtin"),
    "settrace": ("import sys\nsys.settrace(lambda *a: None)", "compare",
                 "blocked: sys.settrace"),
    "gc walk": ("import gc\ngc.get_objects()", "compare", "blocked: walking the garbage collector"),
    "pipeline": ("get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])",
                 "compare", "IPython's input_transformers_cleanup were changed (restored)"),
    # last: the guard can no longer answer in this kernel
    "guard's handler": ("get_ipython().kernel.shell_handlers.pop('gradlab_guard_request')",
                        "compare", guard.UNTRUSTED),
}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """One kernel: a wrong answer, then each attack followed by the test it aims at."""
    cells, where = [IMPORTS, WRONG], {}
    for name, (attack, test, _) in ATTACKS.items():
        cells.append(attack)
        where[name] = len(cells)
        cells.append(TESTS[test])
    nb, _, notes = run(cells, tmp_path_factory.mktemp("work"))
    return nb, notes, where


@pytest.mark.parametrize("name", list(ATTACKS))
def test_patched_helpers_earn_nothing_and_are_flagged(attacked, name):
    nb, notes, where = attacked
    i = where[name]
    expected = ATTACKS[name][2]
    assert expected in (notes[i] or ""), notes[i]
    if expected == guard.UNTRUSTED:
        assert guard.untrusted(notes[i])    # the guard could not run: the engine scores 0
    else:
        assert error(nb.cells[i]), f"the wrong answer passed after {name!r}"


def test_a_patch_set_off_by_the_test_itself_makes_it_untrusted(workdir):
    """The student's function patches the helper when the test calls it: the test passes in
    the kernel, but the check right after it sees the change and the test scores 0."""
    nb, _, notes = run([
        IMPORTS,
        "def double(x):\n    import gradlab.checks as c\n"
        "    c.first_failure = lambda *a, **k: None\n    return 3 * x",   # what compare compares with
        TESTS["compare"],
        TESTS["assert_close"],
    ], workdir)
    assert error(nb.cells[2]) == ""                 # fooled inside the kernel...
    assert guard.untrusted(notes[2, "after"])       # ...but caught right after
    assert "gradlab.checks.first_failure was replaced" in notes[2, "after"]
    assert guard.untrusted(notes[3, "after"])       # the next test's call patches it again: caught again


HOSTILE_KEYS = """\
import sys, builtins
guard_called = []
class Key:
    \"\"\"A namespace key whose __hash__/__eq__ note when the guard calls them (and then lie).\"\"\"
    def __init__(self, name):
        self.name, self.h = name, hash(name)
    def _in_guard(self, what):
        f = sys._getframe(2)
        while f is not None:
            if f.f_code.co_filename == GUARD_FILE:
                guard_called.append((what, self.name))
                return True
            f = f.f_back
        return False
    def __hash__(self):
        self._in_guard('hash')
        return self.h
    def __eq__(self, other):
        return self._in_guard('eq')
class Name(str):
    pass
del vars(np.testing)['assert_allclose']
vars(np.testing)[Key('assert_allclose')] = lambda *a, **k: None
vars(checks)[Key('compare')] = 1
del vars(checks)['first_failure']
vars(checks)[Name('first_failure')] = lambda *a, **k: None
vars(builtins)[Key('abs')] = 1
sys.modules[Key('gradlab.checks')] = 1
globals()[Key('checks')] = 1
"""


def test_hostile_keys_are_removed_without_running_their_code(workdir):
    """Keys that are not plain names in protected namespaces: the guard takes them out without
    hashing or comparing them (a hostile __hash__/__eq__ would run inside the guard), and a str
    subclass key that shadows a helper is removed."""
    nb, _, notes = run([
        IMPORTS + f"\nGUARD_FILE = {guard.__file__!r}",
        WRONG,
        HOSTILE_KEYS,
        TESTS["assert_allclose"],
        TESTS["assert_close"],
        TESTS["compare"],
        "print(guard_called)",
    ], workdir)
    assert text(nb.cells[6]) == "[]\n"
    for where in ("numpy.testing", "gradlab.checks", "builtins", "sys.modules",
                  "the notebook's namespace"):
        assert f"a key that is not a plain name was put into {where} (removed)" in notes[3]
    assert "numpy.testing.assert_allclose was replaced" in notes[3]
    assert all(error(nb.cells[i]) for i in (3, 4, 5)), [error(c) for c in nb.cells]


SNEAKY_THREAD = """\
import sys, threading, time
guard_called = []
def noted(what):
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_filename == GUARD_FILE:
            guard_called.append(what)
        f = f.f_back
class Sneaky(threading.Thread):
    \"\"\"Its ident and name are properties: code that would run inside the guard.\"\"\"
    @property
    def ident(self):
        noted('ident')
        return threading.Thread.ident.fget(self)
    @property
    def name(self):
        noted('name')
        return 'asyncio_0'
    @name.setter
    def name(self, value):
        pass
Sneaky(target=time.sleep, args=(5,), daemon=True).start()
"""


def test_a_thread_of_the_submission_is_reported_without_running_its_code(workdir):
    """The guard tells the submission's threads from the kernel's by what they hold, never
    through their properties (a Thread subclass's ident would run inside the guard)."""
    nb, _, notes = run([
        IMPORTS + f"\nGUARD_FILE = {guard.__file__!r}",
        WRONG,
        SNEAKY_THREAD,
        TESTS["compare"],
        "print(guard_called)",
    ], workdir)
    assert text(nb.cells[4]) == "[]\n"
    assert "1 thread(s) started by the submission still running" in notes[3]
    assert error(nb.cells[3])


def test_guard_is_quiet_on_an_honest_notebook(workdir):
    """No finding for ordinary work: plots, namedtuples, seeds, print options, the tripwire."""
    nb, _, notes = run([
        IMPORTS,
        "import matplotlib.pyplot as plt\nfrom collections import namedtuple\n"
        "Point = namedtuple('Point', 'x y', defaults=(0,))\n"
        "np.random.seed(0); np.set_printoptions(precision=3)\n"
        "plt.plot([1, 2]); plt.show()\n"
        "def double(x):\n    return 2 * x",
        TESTS["compare"], TESTS["assert_close"], TESTS["assert_allclose"], TESTS["abs"],
        TEST + "with checks.tripwire(ref.central_difference):\n    double(1.0)",
    ], workdir)
    assert all(note is None for note in notes.values()), notes
    assert len(notes) == 10                         # 5 tests, checked before and after
    assert not any(error(c) for c in nb.cells), [error(c) for c in nb.cells]


def test_guard_accepts_test_cells_that_rebind_a_name(workdir):
    """Each test cell may import its own reference as ``ref`` (03_backprop does): a name the
    notebook binds to several modules may mean any of them; a foreign value is still caught."""
    nb, _, notes = run([
        IMPORTS,
        TEST + "from gradlab import activations as ref\nref.sigmoid(0.0)",
        TEST + "from gradlab import layers as ref\nref.affine_forward",
        TEST + "import gradlab.calculus as ref\nref.central_difference",
    ], workdir)
    assert all(note is None for note in notes.values()), notes
    assert not any(error(c) for c in nb.cells), [error(c) for c in nb.cells]


def test_guard_keeps_the_checks_handler_and_removes_a_foreign_one(workdir):
    """gradlab.checks.install_handler() (every notebook's setup cell) is the notebook's own; a
    handler of the student's (which could hide a failure) is removed and flagged."""
    nb, _, notes = run([IMPORTS + "\nchecks.install_handler()", TESTS["compare"]], workdir)
    assert all(note is None for note in notes.values()), notes
    nb, _, notes = run([IMPORTS + "\nchecks.install_handler()",
                        "get_ipython().set_custom_exc((AssertionError,), lambda *a, **k: [])",
                        TESTS["compare"]], workdir)
    assert "a custom exception handler was set (removed)" in str(notes), notes


def test_forged_report_is_untrusted():
    import hashlib
    import hmac

    key, nonce = guard.new_key(), "n1"
    body = "[]"
    mac = hmac.new(key, (nonce + body).encode(), hashlib.sha256).hexdigest()  # the stdlib's HMAC
    good = f"{guard.TOKEN} {nonce} {mac} {body}"
    assert guard.read_report(good, key, nonce) == []
    assert guard.read_report(good.replace("[]", "['x']"), key, nonce) is None
    assert guard.read_report(good, guard.new_key(), nonce) is None
    assert guard.read_report(good, key, "another nonce") is None
