"""Run a student's Jupyter kernel in a sandbox: bubblewrap namespaces plus resource limits.

Interface (all the grading engine needs)::

    from gradlab_grader import sandbox

    limits = sandbox.Limits()                  # every default below names its reason
    km = sandbox.sandboxed_kernel_manager(
        workdir,                               # the private working copy: the only writable place
        limits,
        hidden=[ws.root, repo / "solutions"],  # never visible to the kernel (workspace, sources...)
    )
    client = MyClient(nb, km=km, ...)          # nbclient starts, interrupts, restarts, kills it
    ...
    km.exit_reason()       # after a dead kernel: "hit the memory limit (2 GiB)" etc., or None

    sandbox.available()    # True when bubblewrap works on this machine
    sandbox.unavailable_reason()   # None, or the loud one-paragraph warning the CLI prints once
    class MyClient(sandbox.OutputCap, NotebookClient): ...   # caps output kept per cell

    launcher = sandbox.launcher(required=False, limits=..., hidden=[...], preload=["numpy"])
    launcher.kernel_manager(launcher.make_workdir())
                           # the same, as the engine's Kernels pool asks for it (kernels forked
                           # from the launcher's template where factory_mode() says so)
    launcher.close()       # stops the template

What the sandbox is, when ``bwrap`` works (Linux with user namespaces, the normal case):

- **file system**: only the system directories (``/usr``, ``/etc``, ``/lib``...), the Python
  environment of the kernel and the packages it imports are visible, read-only.  Everything else
  — ``/work``, ``/home``, ``/root``, ``/srv``, the instructor's ``solutions/``, the workspace
  with its ``source/`` and gradebook, other students' submissions — is not there at all.  Paths in
  ``hidden`` are masked even when they lie inside a visible directory.  ``$HOME`` is an empty
  private tmpfs (a student can "delete" it without touching the real one), ``/tmp`` is private
  too, and the working copy is the only host directory the kernel can write.
- **network**: a new, empty network namespace (``--unshare-net``): no loopback services of the
  host, no internet.  The kernel talks to the grader over unix sockets (jupyter_client's ``ipc``
  transport) in a private directory bound into the sandbox.
- **processes**: a private pid namespace (it sees and signals only its own processes); when the
  kernel dies, everything it started dies with it (``--die-with-parent``, pid 1 of the namespace).
- **limits** (:class:`Limits`): address space (``RLIMIT_AS``), CPU seconds, processes
  (``RLIMIT_NPROC``), file size, core dumps, the size of the private tmpfs, and output kept per cell
  (client side, :class:`OutputCap`).  The rlimits are set *inside* the sandbox by a prelude
  (util-linux's ``prlimit`` and ``setpriv``, a few milliseconds) that then execs the kernel.
  Where the machine allows it (root, cgroup v1), the kernel as a whole is bounded too
  (:mod:`gradlab_grader.kernel.limits`): its working copy is a tmpfs of ``workdir_bytes``, and a
  cgroup of its own holds all its processes to ``kernel_memory_bytes`` and ``processes``.

Why the kernel runs as an unprivileged uid.  ``RLIMIT_NPROC`` is not enforced for root (Linux
skips the check for uid 0, also inside a user namespace that maps onto root).  So:

- grader run as **root** (CI, a grading server): bwrap runs privileged *without* a user namespace,
  keeps only ``CAP_SETUID``/``CAP_SETGID`` for the prelude, which sets the rlimits and drops to a
  uid of its own (``UID_BASE`` + a random offset, no passwd entry needed; it ends with no
  capabilities and with ``no_new_privs``, so it cannot regain root).  One uid per kernel gives
  each kernel its own process budget: a fork bomb in one does not starve the kernels grading
  beside it.  The working copy and the socket directory are chowned to that uid.  (Dropping to
  ``nobody`` *before* bwrap, the other way, fails when the Python lives under a ``0700`` home
  such as ``/root/.pyenv``: bwrap could not even reach the directories it must bind.)
- grader run as a **user** (a laptop): bwrap makes an unprivileged user namespace.  Since Linux
  5.14 the process count is kept per user namespace, so the prelude's ``RLIMIT_NPROC`` is again a
  per-kernel budget.

Both were checked on Debian 12 (bubblewrap 0.8, Linux 6.x, in a container, as root): bwrap as
root with ``--unshare-net --unshare-pid`` works, so does unprivileged bwrap with a user namespace
(``user.max_user_namespaces`` > 0); a fork bomb stopped at the limit in each, and not at all
with root's ``RLIMIT_NPROC`` inside a user namespace, which is why root mode has none.

Kernels forked from a template (:mod:`gradlab_grader.kernel.factory`).  A :class:`Launcher`
(one per worker) forks its kernels from one long-lived template process that has imported
ipykernel and the preload list, instead of starting an interpreter per kernel, where
:func:`factory_mode` says so:

- **root with bubblewrap**: the template runs inside one sandbox built like the per-kernel one
  above (:class:`KernelFactory`), with a per-worker base folder (0711) bound read-write and
  ``CAP_SYS_ADMIN`` kept besides ``CAP_SETUID``/``CAP_SETGID``.  Each forked kernel makes its own
  mount, network and IPC namespaces, private tmpfs on ``/tmp``, ``/dev/shm`` and ``$HOME`` (its
  own working copy and socket folder, 0700 and chowned to its uid, bound back), a ``/proc`` that
  hides other uids' processes, sets the rlimits, drops to its own uid with no capabilities and
  ``no_new_privs``.  The pid namespace is the template's (shared by the worker's kernels, which
  cannot see or signal each other: different uids, ``hidepid=2``); what a kernel leaves running
  is killed with a ``kill(-1)`` made as its uid when it ends.
- **no bubblewrap** (limits only, or ``isolate=False``): the template runs unsandboxed, same code;
  each kernel gets the limits and a private ``HOME``/``TMPDIR``.
- **a user with bubblewrap** (a laptop): one bubblewrap per kernel as described above, no template:
  in one user namespace all kernels would share a uid and could reach each other.

What it does not do: where :func:`gradlab_grader.kernel.limits.available` is False (a grader run
as a user, no cgroup v1 memory controller, no right to mount) the limits are per process only: a
fork bomb whose every child allocates memory can use up to ``processes x memory_bytes``, and the
working copy lies on the host disk (each file bounded, not their number); the CLI says so once per
run.  CPU time is shared with the grader (the per-cell timeouts of the engine bound it in wall
time).

Without bubblewrap (macOS, a container without user namespaces) the kernel still gets the limits
(except the process limit, when the grader is root) but no namespaces: it can read what the
grader's user can read, and reach the network.  :func:`unavailable_reason` says so; the CLI
prints it once per run.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

GiB = 1024 ** 3
MiB = 1024 ** 2


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed kernel.  ``None`` leaves a limit unset."""

    # A grading kernel maps ~1.0 GiB of address space (VmPeak) once NumPy, Matplotlib,
    # scikit-learn, ipywidgets and gradlab are imported, only ~0.17 GiB of it resident (measured,
    # bench/bench_sandbox.py); the course's largest arrays are a few MB.  2 GiB leaves room for
    # real work; a memory bomb gets MemoryError long before the grader machine swaps.
    memory_bytes: int | None = 2 * GiB
    # A whole notebook executes in under a minute (project rule); 5 minutes of CPU is a generous
    # backstop behind the engine's wall-clock timeouts.  SIGXCPU comes at the soft limit.
    cpu_seconds: int | None = 300
    # ipykernel runs ~10 threads and threads count as processes; BLAS is pinned to one thread in
    # the sandbox (THREAD_ENV).  64 leaves room for a small multiprocessing pool; a fork bomb
    # stops at 64.
    processes: int | None = 64
    # The course's notebooks write at most a few small .npz/.png files; 64 MiB stops a disk bomb.
    file_bytes: int | None = 64 * MiB
    # Size of each private tmpfs (/tmp and $HOME); tmpfs lives in RAM, so it is kept small.
    tmpfs_bytes: int | None = 256 * MiB
    # Output the grader keeps per cell: a cell with a dozen figures is ~1 MiB of base64 PNG.
    # Beyond it, outputs are dropped and one note says so (OutputCap).
    output_bytes: int | None = 2 * MiB
    # No core dumps: a segfaulting submission must not write hundreds of MB to the working copy.
    core_bytes: int | None = 0
    # Resident memory of all the kernel's processes together (its tmpfs files included), where a
    # cgroup bounds it (gradlab_grader.kernel.limits): the same 2 GiB as one process may map, so
    # forked children share the kernel's budget instead of multiplying it.
    kernel_memory_bytes: int | None = 2 * GiB
    # Size of the working copy (a tmpfs, where kernellimits can mount one): a submission's
    # notebooks and data are a few MB; 128 MiB holds a few files of file_bytes, no disk bomb.
    workdir_bytes: int | None = 128 * MiB

    def rlimits(self) -> dict[str, tuple[int, int]]:
        """The (soft, hard) rlimits the prelude sets inside the sandbox, by resource name."""
        out = {}
        if self.memory_bytes is not None:
            out["RLIMIT_AS"] = (self.memory_bytes, self.memory_bytes)
        if self.cpu_seconds is not None:
            # soft < hard: the kernel dies of SIGXCPU (a clear reason), SIGKILL 5 s later at worst
            out["RLIMIT_CPU"] = (self.cpu_seconds, self.cpu_seconds + 5)
        if self.processes is not None:
            out["RLIMIT_NPROC"] = (self.processes, self.processes)
        if self.file_bytes is not None:
            out["RLIMIT_FSIZE"] = (self.file_bytes, self.file_bytes)
        if self.core_bytes is not None:
            out["RLIMIT_CORE"] = (self.core_bytes, self.core_bytes)
        return out


# Threads of numerical libraries: N parallel kernels on N cores each want one thread, and every
# thread counts against RLIMIT_NPROC (OpenBLAS starts one per core, 64 on a big server).
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Environment variables passed into the sandbox; everything else (tokens, credentials, paths of
# the grader) stays out.  The prelude also drops JPY_PARENT_PID (jupyter_client adds it at
# launch): that pid means nothing in the sandbox's pid namespace, where the kernel's parent is
# pid 1 and ipykernel takes it for a dead parent (bwrap's --die-with-parent does that job).
ENV_KEEP = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "MPLBACKEND", "PYTHONHASHSEED",
            "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "NBGRADER_EXECUTION", "JPY_SESSION_NAME",
            "PYDEVD_DISABLE_FILE_VALIDATION", *THREAD_ENV)

# The system, visible read-only (if present).  Not /home, /root, /work, /srv, /opt, /mnt,
# /media, /var, /run: those hold people's and services' data (a Python environment there, say
# /opt/conda, is bound by python_paths()).  /sys: NumPy and OpenBLAS read the CPU topology.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")


def prelude(limits: Limits, uid: int | None, python: str = sys.executable) -> list[str]:
    """The command that runs inside the sandbox before the kernel: set the rlimits, drop to
    ``uid`` (root mode), exec the kernel.  util-linux's ``prlimit`` and ``setpriv`` when present
    (a few ms), else a Python one-liner (one more interpreter start, ~0.2 s on a busy machine).
    Python ignores SIGXFSZ, so a too-big write raises OSError(EFBIG) in the student's code
    instead of killing the kernel."""
    prlimit, setpriv = shutil.which("prlimit"), shutil.which("setpriv")
    if prlimit and (uid is None or setpriv):
        names = {"RLIMIT_AS": "as", "RLIMIT_CPU": "cpu", "RLIMIT_NPROC": "nproc",
                 "RLIMIT_FSIZE": "fsize", "RLIMIT_CORE": "core"}
        cmd = [prlimit] + [f"--{names[k]}={soft}:{hard}" for k, (soft, hard) in
                           limits.rlimits().items()] + ["--"]
        if uid is not None:
            cmd += [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"]
        return cmd
    cfg = {"rlimits": limits.rlimits(), "uid": uid}
    return [python, "-I", "-S", "-c", _PRELUDE, json.dumps(cfg)]


_PRELUDE = ("import os, resource, sys, json\n"
            "cfg = json.loads(sys.argv[1])\n"
            "for k, v in cfg['rlimits'].items():\n"
            "    resource.setrlimit(getattr(resource, k), tuple(v))\n"
            "os.environ.pop('JPY_PARENT_PID', None)\n"
            "if cfg['uid'] is not None:\n"
            "    os.setgroups([]); os.setgid(cfg['uid']); os.setuid(cfg['uid'])\n"
            "os.execv(sys.argv[2], sys.argv[2:])\n")

# Kernels of a root grader run as UID_BASE + a random offset below UID_SPAN: far above the uids
# of real accounts (Debian allocates users from 1000, systemd's dynamic users end at 65519, and
# container subuid ranges start at 100000 in steps of 65536 on a typical host).
UID_BASE = 1_900_000_000
UID_SPAN = 100_000_000


class SandboxUnavailable(UserWarning):
    """Kernels run with resource limits only: no namespaces (see unavailable_reason())."""


@functools.lru_cache(maxsize=None)
def _probe() -> str | None:
    """None if bubblewrap can build our sandbox here, else why not (one line)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    cmd = [bwrap, *_bind_system(), *_namespaces(), "--die-with-parent", "--new-session",
           "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "true"]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return f"bwrap does not run: {err}"
    if run.returncode != 0:
        return f"bwrap cannot create namespaces here: {run.stderr.strip() or run.returncode}"
    return None


def available() -> bool:
    """True when kernels can run under bubblewrap on this machine."""
    return _probe() is None


def unavailable_reason() -> str | None:
    """None when the sandbox works; else the warning to print once per grading run."""
    why = _probe()
    if why is None:
        return None
    return (f"WARNING: grading WITHOUT the sandbox: {why}. Student code still runs with memory, "
            "CPU, process and file-size limits, but it can read every file this user can read "
            "(other students' work, the instructor's sources, the gradebook) and reach the "
            "network. Install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap) to "
            "grade untrusted submissions.")


def _namespaces() -> list[str]:
    """bwrap's namespace flags: all of them; as root no user namespace (see module docstring)."""
    if os.geteuid() == 0:
        return ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return ["--unshare-all"]


def _bind_system() -> list[str]:
    args = []
    for d in SYSTEM_DIRS:
        if os.path.lexists(d):
            args += ["--ro-bind", d, d] if not os.path.islink(d) else ["--symlink", os.readlink(d), d]
    return args


@functools.lru_cache(maxsize=None)
def python_paths(python: str = sys.executable) -> tuple[str, ...]:
    """Directories the kernel's Python needs: its prefixes, site-packages, .pth additions and the
    source directories of editable installs (gradlab's ``lib/gradlab`` in a development checkout).

    Probed by running ``python`` from ``/`` so the grader's own working directory (a repository
    with ``solutions/`` in it) is never taken for a library path.
    """
    probe = ("import sys, json\n"
             "paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]\n"
             "paths += [p for p in sys.path if p]\n"
             "for f in sys.meta_path:\n"
             "    m = sys.modules.get(getattr(f, '__module__', '') or '')\n"
             "    paths += list(getattr(m, 'MAPPING', {}).values())\n"
             "print(json.dumps(paths))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out = subprocess.run([python, "-c", probe], cwd="/", env=env, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    paths = {os.path.realpath(p) for p in json.loads(out) if os.path.exists(p)}
    paths.add(os.path.dirname(os.path.realpath(python)))
    # keep outermost paths only (a prefix covers its site-packages)
    kept: list[str] = []
    for p in sorted(paths, key=len):
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(p)
    return tuple(kept)


def _inside(path: str, dirs) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def bwrap_args(workdir: str, rundir: str, home: str, limits: Limits, hidden=(),
               expose=(), python: str = sys.executable, caps=(), writable=()) -> list[str]:
    """The bubblewrap command line (without the command): see the module docstring.

    hidden: paths masked (an empty directory, an empty file); expose: extra read-only paths;
    caps: capabilities kept beyond CAP_SETUID/CAP_SETGID (root only: the kernel template's
    CAP_SYS_ADMIN, see gradlab_grader.kernel.factory); writable: host paths bound read-write
    at their place (the template's cgroup folders).
    """
    size = ["--size", str(limits.tmpfs_bytes)] if limits.tmpfs_bytes else []
    args = [shutil.which("bwrap") or "bwrap", *_bind_system(),
            *_namespaces(),           # net, pid, ipc, uts, cgroup (+ user when not root)
            *[a for c in caps for a in ("--cap-add", c)],
            "--die-with-parent",      # the grader (or its kill) takes the sandbox with it
            "--new-session",          # no TIOCSTI into the grader's terminal
            "--hostname", "sandbox",
            "--dev", "/dev", "--proc", "/proc",
            # private, world-writable like the real ones (the kernel's uid owns nothing here)
            *size, "--perms", "1777", "--tmpfs", "/tmp",
            *size, "--perms", "1777", "--tmpfs", "/dev/shm"]
    real = [d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)]

    def parents(dest):
        # bwrap creates missing parents of a mount point 0700 when run as root, which the
        # kernel's uid could not traverse: create them 0755 first.  Directories inside a bound
        # host tree exist already.
        out, parts = [], dest.strip("/").split("/")[:-1]
        for i in range(len(parts)):
            d = "/" + "/".join(parts[:i + 1])
            if not _inside(d, real):
                out += ["--perms", "0755", "--dir", d]
        return out

    # $HOME: an empty private tmpfs at its real path (a Python environment inside it is bound
    # again below, read-only)
    if home != "/":
        args += parents(home) + [*size, "--perms", "0777", "--tmpfs", home]
    ro = [p for p in python_paths(python) if not _inside(p, SYSTEM_DIRS)]
    ro += [os.path.realpath(p) for p in expose]
    for p in ro:
        args += parents(p) + ["--ro-bind", p, p]
        real.append(p)
    for h in map(os.path.realpath, hidden):
        # only what would be visible needs a mask; an empty traverse-only directory (the
        # working copy may lie inside it) or /dev/null for a file
        if not os.path.exists(h) or not _inside(h, real):
            continue
        if os.path.isdir(h):
            args += ["--perms", "0711", "--tmpfs", h]
        else:
            # an empty regular file (a bound /dev/null would not even open: binds are nodev)
            empty = os.path.join(rundir, ".empty")
            if not os.path.exists(empty):
                open(empty, "wb").close()
                os.chmod(empty, 0o444)
            args += ["--ro-bind", empty, h]
    for p in dict.fromkeys((rundir, workdir)):
        args += parents(p) + ["--bind", p, p]
    for p in writable:
        args += ["--bind", p, p]
    return args + ["--chdir", workdir]


def describe_exit(returncode: int | None, limits: Limits) -> str | None:
    """A plain reason for a kernel process that ended with ``returncode`` (None if unknown).

    bwrap reports a child killed by signal N as exit status 128+N; Popen reports -N.
    """
    if returncode is None:
        return None
    sig = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else None
    if sig == signal.SIGXCPU:
        return f"the kernel used up its CPU-time limit ({limits.cpu_seconds} s) and was stopped"
    if sig == signal.SIGSEGV:
        return "the kernel crashed (segmentation fault)"
    if sig == signal.SIGABRT:
        return ("the kernel aborted (often memory exhaustion inside a C library; the memory "
                f"limit is {_size(limits.memory_bytes)})")
    if sig == signal.SIGKILL:
        return "the kernel was killed (SIGKILL: a time limit, or the grader stopped it)"
    if sig is not None:
        return f"the kernel was killed by signal {signal.Signals(sig).name}"
    return f"the kernel exited with status {returncode}"


def _size(n):
    return "unlimited" if n is None else f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"


class SandboxedKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernels start inside the sandbox.

    Use :func:`sandboxed_kernel_manager` to make one.  nbclient drives it like any kernel
    manager: start, interrupt (sent as a message: signals stop at the sandbox's session), restart
    (the same sandbox again), shutdown (removes the socket directory).
    """

    def __init__(self, *, workdir, limits: Limits, hidden=(), expose=(), sandbox_uid=None,
                 isolate: bool = True, factory=None, **kw):
        super().__init__(**kw)
        # kernels forked from a pre-imported template (gradlab_grader.kernel.factory), or None
        self.factory = factory
        self.workdir = os.path.realpath(workdir)
        self.limits = limits
        self.hidden = [os.path.realpath(h) for h in hidden]
        self.expose = list(expose)
        self.isolate = isolate
        # as root (and sandboxed): the kernel's own uid, see the module docstring
        if os.geteuid() != 0 or not isolate:
            sandbox_uid = None
        elif sandbox_uid is None:
            sandbox_uid = UID_BASE + secrets.randbelow(UID_SPAN)
        self.sandbox_uid = sandbox_uid
        # unix sockets + connection file in a short private directory (socket paths < 108 bytes)
        self.rundir = tempfile.mkdtemp(prefix="gradlab-k-",
                                       dir=factory.base if factory is not None else "/tmp")
        # the kernel's own cgroup and its working copy's tmpfs (gradlab_grader.kernel.limits)
        self.held = _Held()
        self._oom_seen = 0
        self._finalizer = weakref.finalize(self, _release, self.rundir, self.held)
        self.transport = "ipc"
        self.ip = os.path.join(self.rundir, "k")
        self.connection_file = os.path.join(self.rundir, "kernel.json")
        if self.sandbox_uid is not None:
            os.chown(self.rundir, self.sandbox_uid, self.sandbox_uid)
            _chown_tree(self.workdir, self.sandbox_uid)
        self.home = os.path.realpath(os.path.expanduser("~"))
        self._whole_kernel_limits(factory)

    def _whole_kernel_limits(self, factory) -> None:
        """The working copy on a tmpfs of its size and a cgroup of the kernel's own, where the
        machine allows them (gradlab_grader.kernel.limits)."""
        from . import limits as kernellimits

        if not kernellimits.available():
            return
        if self.limits.workdir_bytes is not None:
            kernellimits.mount_workdir(self.workdir, self.limits.workdir_bytes,
                                       self.sandbox_uid or 0)
            self.held.mounted = self.workdir
        if self.limits.kernel_memory_bytes is not None or self.limits.processes is not None:
            self.held.cgroup = kernellimits.Cgroup(getattr(factory, "cgroup", None),
                                              self.limits.kernel_memory_bytes,
                                              self.limits.processes)

    @property
    def cgroup(self):
        """The kernel's own cgroup (gradlab_grader.kernel.limits), or None."""
        return self.held.cgroup

    def kernel_env(self, env: dict | None) -> dict:
        """The kernel's environment: an allowlist of ``env``, a private $HOME and /tmp."""
        env = env if env is not None else dict(os.environ)
        out = {k: v for k, v in env.items() if k in ENV_KEEP or k.startswith("LC_")}
        for k, v in THREAD_ENV.items():
            out.setdefault(k, v)
        out["PATH"] = os.pathsep.join([os.path.dirname(sys.executable),
                                       out.get("PATH", os.defpath)])
        out["TMPDIR"] = "/tmp" if self.isolate else self.rundir
        # without bwrap the real $HOME is not masked: point HOME at the socket directory instead
        out["HOME"] = self.home if self.isolate else self.rundir
        # PYTHONPATH etc. of the grader are dropped: the kernel's own paths come from its prefix;
        # a HOME or TMPDIR the caller chose is replaced by the private ones
        out.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        return out

    async def _async_pre_start_kernel(self, **kw):
        if self.factory is not None and self.provisioner is None:
            from .factory import provisioner_class

            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = provisioner_class()(kernel_id=self.kernel_id,
                                                   kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)

    def factory_request(self, argv, env, cwd) -> dict:
        """What the kernel template needs to fork this kernel (gradlab_grader.kernel.factory)."""
        env = {k: v for k, v in env.items() if k != "JPY_PARENT_PID"}
        req = {"argv": list(argv), "env": env, "cwd": cwd or self.workdir,
               "uid": self.sandbox_uid, "rlimits": self.limits.rlimits(),
               "log": os.path.join(self.rundir, "kernel.log"), "isolate": self.isolate,
               "cgroup": self.cgroup.procs if self.cgroup is not None else []}
        if self.isolate:
            size = {"size": str(self.limits.tmpfs_bytes)} if self.limits.tmpfs_bytes else {}
            mine = [[self.rundir, False], [self.workdir, False]]
            ro = [[p, True] for p in self.factory.readonly]
            uid = self.sandbox_uid if self.sandbox_uid is not None else 0
            req["tmpfs"] = [
                {"path": "/tmp", "options": {"mode": "1777", **size},
                 "keep": [k for k in mine + ro if _inside(k[0], ["/tmp"])]},
                {"path": "/dev/shm", "options": {"mode": "1777", **size}, "keep": []},
            ]
            if self.home not in ("/", "/tmp") and not _inside(self.home, SYSTEM_DIRS):
                req["tmpfs"].append(
                    {"path": self.home, "options": {"mode": "0700", "uid": uid, "gid": uid, **size},
                     "keep": [k for k in mine + ro if _inside(k[0], [self.home])]})
        return req

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self.sandbox_uid is not None:
            os.chown(self.connection_file, self.sandbox_uid, self.sandbox_uid)
        kw["env"] = self.kernel_env(kw.get("env"))
        kw["cwd"] = self.workdir
        # the kernel's own stdout/stderr (not what cells print: that goes over iopub) goes to a
        # log in the socket directory, capped by RLIMIT_FSIZE, read back by exit_reason()
        log = open(os.path.join(self.rundir, "kernel.log"), "ab")
        kw["stdout"] = kw["stderr"] = log
        if self.sandbox_uid is not None:
            os.chown(log.name, self.sandbox_uid, self.sandbox_uid)
        python = kernel_cmd[0]
        # start-up code, one line (a second --IPKernelApp.exec_lines would replace the first)
        boot = []
        if self.factory is not None and self.factory.activate:
            # a module the template preloaded ran its IPython hooks without a shell: run them now
            boot.append(self.factory.activate)
        if boot:
            kernel_cmd = [*kernel_cmd, "--IPKernelApp.exec_lines=" + "; ".join(boot)]
        # no ParentPoller: the launcher's pid means nothing in the sandbox's pid namespace
        kernel_cmd = [*kernel_cmd, "--IPKernelApp.parent_handle=0"]
        # forked by the template (it sets limits, uid, namespaces) when the kernel is the
        # template's Python running ipykernel; another kernel spec gets a sandbox of its own
        self.forked = self.factory is not None and _forkable(kernel_cmd, self.factory.python)
        if self.forked:
            cmd = kernel_cmd
        else:
            cmd = prelude(self.limits, self.sandbox_uid, python) + kernel_cmd
        if self.isolate and not self.forked:
            cmd = [*bwrap_args(self.workdir, self.rundir, self.home, self.limits, self.hidden,
                               self.expose, python), *cmd]
        if self.cgroup is not None and not self.forked:
            cmd = join_cgroup(self.cgroup.procs) + cmd
        self._oom_seen = self.cgroup.oom_kills() if self.cgroup is not None else 0
        try:
            return await super()._async_launch_kernel(cmd, **kw)
        finally:
            log.close()

    async def _async_interrupt_kernel(self):
        # bwrap's --new-session keeps the kernel out of the process group jupyter_client signals,
        # and SIGINT would kill bwrap itself: ask the kernel (ipykernel's control thread) instead
        assert self.kernel_spec is not None
        self.kernel_spec.interrupt_mode = "message"
        return await super()._async_interrupt_kernel()

    interrupt_kernel = _async_interrupt_kernel

    def exit_reason(self) -> str | None:
        """Why the kernel process ended, in plain words (None while it runs or if unknown)."""
        proc = getattr(self.provisioner, "process", None)
        code = proc.poll() if proc is not None else None
        reason = describe_exit(code, self.limits)
        killed = code in (-signal.SIGKILL, 128 + signal.SIGKILL)
        if killed and self.cgroup is not None and self.cgroup.oom_kills() > self._oom_seen:
            return (f"the kernel's processes together went past the kernel's memory limit "
                    f"({_size(self.limits.kernel_memory_bytes)}) and the kernel was stopped")
        if reason and not killed:
            tail = self.log_tail()
            if tail:
                reason += "; its last words: " + tail
        return reason

    def log_tail(self, n: int = 500) -> str:
        """The end of the kernel process's own stdout/stderr (start-up errors land here)."""
        try:
            with open(os.path.join(self.rundir, "kernel.log"), "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - n))
                return f.read().decode(errors="replace").strip()
        except OSError:
            return ""

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and not os.environ.get("GRADLAB_SANDBOX_KEEP"):
            self._finalizer()

    cleanup_resources = _async_cleanup_resources


def join_cgroup(procs) -> list[str]:
    """A command prefix that puts itself (then, by exec, the command) into the cgroups whose
    ``cgroup.procs`` files are ``procs``: everything the kernel starts stays inside."""
    script = "".join(f'echo $$ > "${i + 1}" && ' for i in range(len(procs)))
    return ["/bin/sh", "-c", script + f'shift {len(procs)} && exec "$@"', "sh", *procs]


@dataclass
class _Held:
    mounted: str | None = None   # the working copy, when a tmpfs is mounted on it
    cgroup: object = None         # kernellimits.Cgroup


def _release(rundir, held: _Held) -> None:
    """What a kernel manager leaves when its kernel has ended: the socket folder, the working
    copy's tmpfs (its content goes), the cgroup (what is left in it is killed)."""
    from . import limits as kernellimits

    shutil.rmtree(rundir, True)
    if held.mounted is not None:
        kernellimits.unmount(held.mounted)
        held.mounted = None
    if held.cgroup is not None:
        held.cgroup.remove()
        held.cgroup = None


def _forkable(cmd, python) -> bool:
    """``cmd`` is ``python -m ipykernel_launcher ...`` with the template's Python."""
    return (len(cmd) >= 3 and cmd[1:3] == ["-m", "ipykernel_launcher"]
            and os.path.realpath(cmd[0]) == os.path.realpath(python))


def _chown_tree(path: str, uid: int) -> None:
    os.chown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


_warned = False


def sandboxed_kernel_manager(workdir, limits: Limits | None = None, hidden=(), expose=(),
                             kernel_name: str = "python3", require: bool = False,
                             sandbox_uid: int | None = None,
                             isolate: bool = True, factory=None) -> SandboxedKernelManager:
    """A kernel manager for nbclient whose kernel runs in the sandbox over ``workdir``.

    workdir: the private working copy (the kernel's cwd, its only writable host directory; as
        root it is chowned to ``sandbox_uid``).
    hidden: paths masked inside the sandbox even if they lie in a visible directory (the
        workspace, ``solutions/``...).  expose: extra read-only paths (data sets, say).
    require: raise RuntimeError instead of falling back to limits only when bwrap is missing.
    sandbox_uid: uid the kernel runs as when the grader is root (default: a fresh one per
        kernel manager, see the module docstring).
    isolate: False runs without bubblewrap on purpose (limits only, no warning).
    factory: a :class:`KernelFactory` to fork the kernel from (``workdir`` must then lie in
        ``factory.base``); None starts a fresh interpreter.
    """
    global _warned
    why = _probe() if isolate else "not asked for"
    if why is not None and isolate:
        if require:
            raise RuntimeError(unavailable_reason())
        if not _warned:
            warnings.warn(unavailable_reason(), SandboxUnavailable, stacklevel=2)
            _warned = True
    return SandboxedKernelManager(workdir=workdir, limits=limits or Limits(), hidden=hidden,
                                  expose=expose, sandbox_uid=sandbox_uid, isolate=why is None,
                                  kernel_name=kernel_name, factory=factory)


# Modules a kernel template imports when the caller names none: the one library nearly every
# notebook imports (the assignment's own imports come from pipeline.preload_modules).
DEFAULT_PRELOAD = ("numpy",)


def factory_mode(isolate: bool) -> bool:
    """Whether kernels are forked from a template (gradlab_grader.kernel.factory): as root under
    bubblewrap (each kernel gets its own uid and namespaces from the template), and without
    bubblewrap.  A user with bubblewrap keeps one sandbox per kernel: inside one shared user
    namespace every kernel would have the same uid, and could signal or read its neighbours."""
    if os.environ.get("GRADLAB_KERNEL_FACTORY", "1") == "0":
        return False
    return not (isolate and available()) or os.geteuid() == 0


class KernelFactory:
    """The kernel template of one worker, and the folder its kernels' working copies live in.

    Root under bubblewrap: the template runs inside one sandbox built like a kernel's (system and
    Python read-only, hidden paths masked, no network, private /tmp and $HOME) with the base
    folder bound read-write and CAP_SYS_ADMIN/CAP_SETUID/CAP_SETGID kept, which each forked
    kernel uses to make its own namespaces and drop to its own uid, then loses.  The base folder
    is 0711: a kernel reaches its own folders (0700, its uid) but cannot list its siblings'.
    """

    def __init__(self, limits: Limits, hidden=(), expose=(), isolate=True, preload=None,
                 python: str = sys.executable):
        from . import limits as kernellimits
        from .factory import Factory

        self.base = tempfile.mkdtemp(prefix="gradlab-f-", dir="/tmp")
        os.chmod(self.base, 0o711)
        # whole-kernel limits (gradlab_grader.kernel.limits): the kernels' tmpfs working copies,
        # mounted below the base later, reach the template's sandbox through a shared mount;
        # their cgroups lie in one of the worker's, bound read-write into the template's sandbox
        # (a kernel joins its own as root, before it drops to its uid)
        self.cgroup = None
        self.shared = kernellimits.available()
        if self.shared:
            kernellimits.share(self.base)
            self.cgroup = kernellimits.Cgroup()
        self.isolate = isolate
        self.preload = list(DEFAULT_PRELOAD if preload is None else preload)
        self.readonly = [p for p in python_paths(python)] + [os.path.realpath(p) for p in expose]
        home = os.path.realpath(os.path.expanduser("~"))
        env = {k: v for k, v in os.environ.items() if k in ENV_KEEP or k.startswith("LC_")}
        env.update(THREAD_ENV)  # read when NumPy is imported: one BLAS thread, no thread to fork
        env["PATH"] = os.pathsep.join([os.path.dirname(python), env.get("PATH", os.defpath)])
        env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        env["HOME"] = home if isolate else self.base
        env["TMPDIR"] = "/tmp" if isolate else self.base
        wrap = None
        if isolate:
            caps = ["CAP_SYS_ADMIN"]
            args = bwrap_args(self.base, self.base, home, limits, hidden, expose, python, caps,
                              writable=self.cgroup.dirs.values() if self.cgroup else ())
            wrap = lambda cmd: [*args, *cmd]  # noqa: E731
        # matplotlib_inline hooks into IPython when imported in a shell; in the template there
        # was none, so each kernel's start-up line runs the hook
        self.activate = ("(lambda m: m and m._enable_matplotlib_integration())("
                         "__import__('sys').modules.get('matplotlib_inline.backend_inline'))")
        self.python = python
        self.factory = Factory(python, self.preload, wrap, env,
                               log=os.path.join(self.base, "template.log"), cwd=self.base)
        self._finalizer = weakref.finalize(self, _close_factory, self.factory, self.base,
                                           self.shared, self.cgroup)

    def spawn(self, request):
        return self.factory.spawn(request)

    def make_workdir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="gradlab-kernel-", dir=self.base))

    def close(self):
        self._finalizer()


def _close_factory(factory, base, shared=False, cgroup=None):
    from . import limits as kernellimits

    factory.close()
    if cgroup is not None:
        cgroup.remove()
    if shared:
        kernellimits.unmount(base)
    if not os.environ.get("GRADLAB_SANDBOX_KEEP"):
        shutil.rmtree(base, ignore_errors=True)


class Launcher:
    """What the grading engine asks for kernels: ``launcher(required).kernel_manager(workdir)``.

    ``sandboxed`` tells whether its kernels really run under bubblewrap (False: limits only).
    Where :func:`factory_mode` says so, kernels are forked from one template per launcher
    (started with the first kernel, stopped by :meth:`close`); ``make_workdir()`` gives the
    working copy a kernel of this launcher can reach.
    """

    def __init__(self, limits: Limits | None = None, hidden=(), expose=(), required=False,
                 isolate=True, preload=None, factory: bool | None = None):
        self.limits = limits or Limits()
        self.hidden, self.expose, self.required = list(hidden), list(expose), required
        self.isolate = isolate
        self.sandboxed = isolate and available()
        self.preload = preload
        self.use_factory = factory_mode(isolate) if factory is None else factory
        self._factory = None

    @property
    def factory(self) -> KernelFactory | None:
        if self.use_factory and self._factory is None:
            self._factory = KernelFactory(self.limits, self.hidden, self.expose,
                                          isolate=self.sandboxed, preload=self.preload)
        return self._factory if self.use_factory else None

    def make_workdir(self) -> Path:
        factory = self.factory
        if factory is not None:
            return factory.make_workdir()
        return Path(tempfile.mkdtemp(prefix="gradlab-kernel-"))

    def kernel_manager(self, workdir) -> SandboxedKernelManager:
        return sandboxed_kernel_manager(workdir, self.limits, self.hidden, self.expose,
                                        require=self.required, isolate=self.isolate,
                                        factory=self.factory)

    def close(self):
        if self._factory is not None:
            self._factory.close()
            self._factory = None


def launcher(required: bool = False, limits: Limits | None = None, hidden=(), expose=(),
             isolate: bool = True, preload=None, factory: bool | None = None) -> Launcher:
    """A :class:`Launcher`; ``required`` makes a missing bubblewrap an error, not a warning.

    ``isolate=False``: the same kernels (limits) without bubblewrap and without the
    warning — what a benchmark compares the sandbox against.  ``preload``: modules the kernel
    template imports (default :data:`DEFAULT_PRELOAD`); ``factory``: force the template on or
    off (default :func:`factory_mode`).
    """
    if required and isolate and not available():
        raise RuntimeError(unavailable_reason())
    return Launcher(limits, hidden, expose, required, isolate, preload, factory)


class LimitNote:
    """NotebookClient mixin: a cell during which the kernel's cgroup stopped one of the kernel's
    processes for memory (gradlab_grader.kernel.limits) ends with a note naming the limit (the
    cell may have lost only a child process, or the kernel itself)."""

    async def async_execute_cell(self, cell, cell_index, *args, **kw):
        group = getattr(self.km, "cgroup", None)
        before = group.oom_kills() if group is not None else 0
        try:
            return await super().async_execute_cell(cell, cell_index, *args, **kw)
        finally:
            if group is not None and group.oom_kills() > before:
                from nbformat.v4 import new_output

                limit = _size(self.km.limits.kernel_memory_bytes)
                cell.outputs.append(new_output("stream", name="stderr", text=(
                    f"\n[gradlab: this kernel's processes together went past its memory limit "
                    f"({limit}); one of them was stopped]\n")))


class OutputCap(LimitNote):
    """NotebookClient mixin: keep at most ``output_limit`` bytes of output per cell (and the
    :class:`LimitNote` of a cell that went past the kernel's memory limit).

    ``class Client(OutputCap, NotebookClient)``; set ``client.output_limit`` (bytes, default
    ``Limits().output_bytes``).  Outputs past the limit are dropped as they arrive — the grader's
    memory stays bounded whatever a print bomb does — and one stderr note in the cell says so.
    The sandbox cannot do this in the kernel: student code can reach the kernel's sockets.
    """

    output_limit: int | None = Limits().output_bytes

    def output(self, outs, msg, display_id, cell_index):
        limit = self.output_limit
        if limit is None:
            return super().output(outs, msg, display_id, cell_index)
        # counted per execution (a re-run cell starts from zero)
        key = msg.get("parent_header", {}).get("msg_id") or cell_index
        used = self.__dict__.setdefault("_cap_used", {})
        if used.get(("noted", key)):
            return None
        content = msg.get("content", {})
        size = len(json.dumps(content, default=str))
        room = limit - used.get(key, 0)
        used[key] = used.get(key, 0) + size
        if size <= room:
            return super().output(outs, msg, display_id, cell_index)
        used[("noted", key)] = True
        if msg.get("msg_type") == "stream" and room > 0:
            # keep the head of the text that overflowed
            msg = {**msg, "content": {**content, "text": content.get("text", "")[:room]}}
            super().output(outs, msg, display_id, cell_index)
        from nbformat.v4 import new_output
        note = new_output("stream", name="stderr",
                          text=f"\n[gradlab: output beyond {_size(limit)} dropped]\n")
        outs.append(note)
        return note
