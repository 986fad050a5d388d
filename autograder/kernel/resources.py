"""The resource limits of one student kernel, and how they are set and read back.

:class:`Limits` holds every limit with the reason of its default: per process (rlimits: address
space, CPU seconds, processes, file size, core dumps; set inside the sandbox by :func:`prelude`,
or by the kernel template for a forked kernel), per kernel as a whole (memory, working copy,
where :mod:`gradlab_grader.kernel.limits` can hold them) and the output the grader keeps per cell
(:mod:`gradlab_grader.kernel.outputcap`).  :func:`describe_exit` says in plain words why a kernel
process ended.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
from dataclasses import dataclass

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
    # the sandbox (kernelenv.THREAD_ENV).  64 leaves room for a small multiprocessing pool; a fork bomb
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
        if uid is not None and setpriv:
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
                f"limit is {size(limits.memory_bytes)})")
    if sig == signal.SIGKILL:
        return "the kernel was killed (SIGKILL: a time limit, or the grader stopped it)"
    if sig is not None:
        return f"the kernel was killed by signal {signal.Signals(sig).name}"
    return f"the kernel exited with status {returncode}"


def size(n: int | None) -> str:
    """A limit in words: "2 GiB", "64 MiB", "unlimited"."""
    return "unlimited" if n is None else f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"
