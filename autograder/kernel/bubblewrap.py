"""Bubblewrap: whether it works here, and the command line that builds a kernel's sandbox.

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
- **limits** (:class:`~gradlab_grader.kernel.resources.Limits`): address space (``RLIMIT_AS``), CPU seconds, processes
  (``RLIMIT_NPROC``), file size, core dumps, the size of the private tmpfs, and output kept per cell
  (client side, :mod:`gradlab_grader.kernel.outputcap`).  The rlimits are set *inside* the sandbox by a prelude
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

Without bubblewrap (macOS, a container without user namespaces) the kernel still gets the limits
(except the process limit, when the grader is root) but no namespaces: it can read what the
grader's user can read, and reach the network.  :func:`unavailable_reason` says so; the CLI
prints it once per run.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import warnings

from .resources import Limits

# The system, visible read-only (if present).  Not /home, /root, /work, /srv, /opt, /mnt,
# /media, /var, /run: those hold people's and services' data (a Python environment there, say
# /opt/conda, is bound by python_paths()).  /sys: NumPy and OpenBLAS read the CPU topology.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")


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
    return None if why is None else _warning(why)


def _warning(why: str) -> str:
    return (f"WARNING: grading WITHOUT the sandbox: {why}. Student code still runs with memory, "
            "CPU, process and file-size limits, but it can read every file this user can read "
            "(other students' work, the instructor's sources, the gradebook) and reach the "
            "network. Install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap) to "
            "grade untrusted submissions.")


def check(isolate: bool, require: bool) -> bool:
    """Whether a kernel asked to be ``isolate``-d runs under bubblewrap here.  A missing
    bubblewrap is a RuntimeError when ``require``, else a warning, once per process."""
    global _warned
    if not isolate:
        return False
    why = _probe()
    if why is None:
        return True
    if require:
        raise RuntimeError(_warning(why))
    if not _warned:
        warnings.warn(_warning(why), SandboxUnavailable, stacklevel=3)
        _warned = True
    return False


_warned = False


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


def inside(path: str, dirs) -> bool:
    """``path`` is one of ``dirs`` or lies below one."""
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
            if not inside(d, real):
                out += ["--perms", "0755", "--dir", d]
        return out

    # $HOME: an empty private tmpfs at its real path (a Python environment inside it is bound
    # again below, read-only)
    if home != "/":
        args += parents(home) + [*size, "--perms", "0777", "--tmpfs", home]
    ro = [p for p in python_paths(python) if not inside(p, SYSTEM_DIRS)]
    ro += [os.path.realpath(p) for p in expose]
    for p in ro:
        args += parents(p) + ["--ro-bind", p, p]
        real.append(p)
    for h in map(os.path.realpath, hidden):
        # only what would be visible needs a mask; an empty traverse-only directory (the
        # working copy may lie inside it) or /dev/null for a file
        if not os.path.exists(h) or not inside(h, real):
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
