"""Limits for a kernel as a whole (all its processes), beyond the per-process rlimits.

An rlimit bounds one process: four children of one kernel may each use the whole address-space
limit, and ``RLIMIT_FSIZE`` bounds one file, not how many.  Where the machine allows it (a grader
run as root with cgroup v1's ``memory`` controller, and the right to mount), each kernel also
gets:

- **a working copy of a set size**: a tmpfs of ``Limits.workdir_bytes`` mounted on the host
  folder the kernel works in (:func:`mount_workdir`), so the grader writes the submission's files
  into it as before and the kernel sees the same folder; a write past the size is
  ``OSError: [Errno 28] No space left on device`` in the student's cell, and nothing reaches the
  host disk.  Unmounted (its content dropped) when the kernel ends.  Kernels forked from a
  template reach it because the template's base folder is a shared mount (:func:`share`): a
  mount made on the host below it appears inside the template's sandbox.
- **a cgroup** (:class:`Cgroup`) made by the grader below its own cgroup, with
  ``memory.limit_in_bytes`` (the resident memory of all the kernel's processes, its tmpfs files
  included) and ``pids.max``; the kernel joins it before it runs anything, its children inherit
  it; past the limit the kernel's out-of-memory killer stops one of its processes (only this
  kernel's), and :meth:`Cgroup.oom_kills` lets the grader name the limit.  Removed, after killing
  what is left in it, when the kernel ends.

:func:`unavailable_reason` says, in one paragraph the CLI prints once per run, what holds when
either is missing (a grader run as a user, a container without the right to mount, cgroup v2
only): the per-process limits alone.

A grader killed before it cleans up (``kill -9``, out of memory) would leave its tmpfs and
cgroups behind: each is also registered with a *janitor*, a small process of the grader's own
(:func:`janitor`), which removes what is still registered when the grader's end of its pipe
closes, however the grader ended.
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
import threading
import time

from .factory import MS_BIND, MS_NODEV, MS_NOSUID, MS_REC, _mount, _sys

MS_SHARED = 1 << 20
MNT_DETACH = 2
# cgroup v1 controllers used, and the files that bound them
CONTROLLERS = ("memory", "pids")


class _Janitor:
    """This process's janitor (started on first use, again in a forked child)."""

    def __init__(self):
        self.proc, self.pid, self.lock = None, None, threading.Lock()

    def tell(self, op: str, kind: str, path: str) -> None:
        with self.lock:
            if self.pid != os.getpid() or self.proc.poll() is not None:
                self.proc = subprocess.Popen(
                    [sys.executable, "-c", "from gradlab_grader.kernel.limits import janitor; janitor()"],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                    start_new_session=True)   # a Ctrl-C of the grader's terminal leaves it be
                self.pid = os.getpid()
            self.proc.stdin.write(json.dumps([op, kind, path]) + "\n")
            self.proc.stdin.flush()


_JANITOR = _Janitor()


def janitor() -> None:
    """The janitor's main loop: ``["hold" | "drop", "mount" | "cgroup", path]`` lines on stdin;
    at end of file (the grader ended, however) remove what is still held, newest first."""
    held = {}
    for line in sys.stdin:
        op, kind, path = json.loads(line)
        if op == "hold":
            held[kind, path] = True
        else:
            held.pop((kind, path), None)
    for kind, path in reversed(list(held)):
        if kind == "mount":
            _detach(path)
        else:
            _remove_cgroup([path])


def _detach(path: str) -> None:
    try:
        _sys("umount2", path.encode(), MNT_DETACH)
    except OSError:
        pass


def mount_workdir(path: str, size: int, uid: int) -> None:
    """Mount a tmpfs of ``size`` bytes on ``path`` (owned by ``uid``, 0700), keeping what the
    folder held (copied in).  Root only; raises OSError where mounting is not allowed."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={size},mode=0700,uid={uid},gid={uid}")
        _JANITOR.tell("hold", "mount", path)
        below = f"/proc/self/fd/{fd}"   # the folder under the new mount
        if os.listdir(below):
            shutil.copytree(below, path, symlinks=True, dirs_exist_ok=True)
            for root, dirs, files in os.walk(path):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)
            os.chown(path, uid, uid)
    finally:
        os.close(fd)


def unmount(path: str) -> None:
    """Detach the mount at ``path`` (its tmpfs content is dropped); nothing if none is there."""
    _detach(path)
    _JANITOR.tell("drop", "mount", path)


def share(path: str) -> None:
    """Make ``path`` a shared mount of its own, so that mounts made below it later reach the
    sandboxes that bind it (bubblewrap makes its mounts slaves of the host's)."""
    _mount(path, path, None, MS_BIND | MS_REC)
    _JANITOR.tell("hold", "mount", path)
    _mount(None, path, None, MS_SHARED)


@functools.lru_cache(maxsize=None)
def _own_cgroups() -> dict[str, str]:
    """The folder of this process's cgroup in each v1 hierarchy of CONTROLLERS that is mounted."""
    with open("/proc/self/cgroup") as f:
        groups = {}
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            for name in names.split(","):
                groups[name] = path
    found: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            root, point, fstype = fields[3], fields[4], fields[sep + 1]
            if fstype != "cgroup":
                continue
            for name in set(fields[sep + 3].split(",")) & set(CONTROLLERS):
                own = groups.get(name)
                if own is not None and (own + "/").startswith(root.rstrip("/") + "/"):
                    found.setdefault(name, point + own[len(root.rstrip("/")):])
    return found


class Cgroup:
    """One cgroup per controller (v1), made below ``parent`` (a :class:`Cgroup`) or below the
    grader's own; ``memory`` and ``processes`` bound it (None: unbounded)."""

    def __init__(self, parent: Cgroup | None = None, memory: int | None = None,
                 processes: int | None = None, prefix: str = "gradlab-"):
        bases = parent.dirs if parent is not None else _own_cgroups()
        name = prefix + secrets.token_hex(6)
        self.dirs: dict[str, str] = {}
        try:
            for controller, base in bases.items():
                path = os.path.join(base, name)
                os.mkdir(path)
                self.dirs[controller] = path
                _JANITOR.tell("hold", "cgroup", path)
            if memory is not None:
                self._write("memory", "memory.limit_in_bytes", memory)
                try:   # swap counted too, where the kernel accounts it
                    self._write("memory", "memory.memsw.limit_in_bytes", memory)
                except OSError:
                    pass
            if processes is not None and "pids" in self.dirs:
                self._write("pids", "pids.max", processes)
        except BaseException:
            self.remove()
            raise

    def _write(self, controller, name, value):
        with open(os.path.join(self.dirs[controller], name), "w") as f:
            f.write(str(value))

    @property
    def procs(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes its pid into to join."""
        return [os.path.join(d, "cgroup.procs") for d in self.dirs.values()]

    def oom_kills(self) -> int:
        """How many of the group's processes the out-of-memory killer stopped."""
        try:
            with open(os.path.join(self.dirs["memory"], "memory.oom_control")) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, KeyError, ValueError):
            pass
        return 0

    def remove(self) -> None:
        """Kill what is left in the group, then remove it."""
        dirs, self.dirs = list(self.dirs.values()), {}
        _remove_cgroup(dirs)
        for path in dirs:
            _JANITOR.tell("drop", "cgroup", path)


def _remove_cgroup(dirs) -> None:
    """Kill the processes in cgroup folders ``dirs``, then remove them (a few tries while the
    dead are reaped; an empty group left behind holds nothing)."""
    dirs = list(dirs)
    for _ in range(50):
        for path in list(dirs):
            try:
                os.rmdir(path)
                dirs.remove(path)
                continue
            except FileNotFoundError:
                dirs.remove(path)
                continue
            except OSError:
                pass
            try:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    pids = [int(p) for p in f.read().split()]
            except OSError:
                pids = []
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if not dirs:
            return
        time.sleep(0.02)


@functools.lru_cache(maxsize=None)
def _probe() -> str | None:
    """None when this grader can mount a working copy and make a memory cgroup, else why not."""
    if os.geteuid() != 0:
        return "the grader does not run as root (only root may mount a tmpfs and make a cgroup)"
    if "memory" not in _own_cgroups():
        return "no cgroup v1 memory controller is mounted"
    probe = tempfile.mkdtemp(prefix="gradlab-probe-")
    try:
        mount_workdir(probe, 1 << 20, 0)
        unmount(probe)
    except OSError as err:
        return f"a tmpfs cannot be mounted here ({err.strerror})"
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    try:
        Cgroup(memory=1 << 30, processes=64, prefix="gradlab-probe-").remove()
    except OSError as err:
        return f"no cgroup can be made below the grader's own ({err.strerror})"
    return None


# The warning when the limits hold per process only ({why}: the probe's one line)
WARNING = ("WARNING: limits hold per process only: {why}. A kernel's processes together may use "
           "their memory limit each, and its working copy lies on the host disk (each file is "
           "limited, not their number). Grade as root on Linux with the cgroup v1 memory "
           "controller to bound each kernel as a whole.")


def available() -> bool:
    """True when kernels get a working copy of a set size and a memory cgroup of their own."""
    return _probe() is None


def unavailable_reason() -> str | None:
    """None when the limits hold per kernel; else the warning to print once per grading run."""
    return None if available() else WARNING.format(why=_probe())
