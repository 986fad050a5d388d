"""The sandboxed kernel manager: a student's Jupyter kernel started under bubblewrap with its
limits, as nbclient drives it.

Interface::

    from gradlab_grader.kernel import sandbox
    from gradlab_grader.kernel.resources import Limits

    km = sandbox.sandboxed_kernel_manager(
        workdir,                               # the private working copy: the only writable place
        Limits(),                              # every default names its reason (kernel.resources)
        hidden=[ws.root, repo / "solutions"],  # never visible to the kernel (workspace, sources...)
    )
    client = MyClient(nb, km=km, ...)          # nbclient starts, interrupts, restarts, kills it
    ...
    km.exit_reason()       # after a dead kernel: "hit the memory limit (2 GiB)" etc., or None

The other jobs around it have modules of their own in :mod:`gradlab_grader.kernel`:
``bubblewrap`` (whether it works here, and its command line), ``resources`` (the limits, the
prelude that sets them, what an exit means), ``limits`` (limits per kernel as a whole),
``launcher`` (the engine's kernels, fresh or forked from a template), ``factory`` (the template
process) and ``outputcap`` (output kept per cell).

The kernel starts as ``[join its cgroup] bwrap ... prelude ... python -m ipykernel_launcher``: the
prelude (util-linux's ``prlimit`` and ``setpriv``, a few milliseconds) sets the rlimits inside the
sandbox, drops to the kernel's own uid when the grader is root, and execs the kernel; a kernel
forked from a template (``template=``) gets the same from the template.

What it does not do: where :func:`gradlab_grader.kernel.limits.available` is False (a grader run
as a user, no cgroup v1 memory controller, no right to mount) the limits are per process only: a
fork bomb whose every child allocates memory can use up to ``processes x memory_bytes``, and the
working copy lies on the host disk (each file bounded, not their number); the CLI says so once per
run.  CPU time is shared with the grader (the per-cell timeouts of the engine bound it in wall
time).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_client.manager import AsyncKernelManager

from ..kernelenv import kernel_environment
from . import bubblewrap
from .bubblewrap import SYSTEM_DIRS, bwrap_args, inside
from .resources import UID_BASE, UID_SPAN, Limits, describe_exit, prelude, size

if TYPE_CHECKING:
    from .limits import Cgroup



@dataclass
class KernelHandle:
    """One kernel as its owner (the engine) holds and passes it: the manager nbclient drives,
    the private working copy, the uid the kernel runs as (None: the grader's), its own cgroup
    (None: limits per process only) and its limits."""

    manager: SandboxedKernelManager
    workdir: Path
    uid: int | None
    cgroup: Cgroup | None
    limits: Limits

    @classmethod
    def of(cls, km: SandboxedKernelManager) -> KernelHandle:
        return cls(km, Path(km.workdir), km.sandbox_uid, km.cgroup, km.limits)


class SandboxedKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernels start inside the sandbox.

    Use :func:`sandboxed_kernel_manager` to make one.  nbclient drives it like any kernel
    manager: start, interrupt (sent as a message: signals stop at the sandbox's session), restart
    (the same sandbox again), shutdown (removes the socket directory).
    """

    def __init__(self, *, workdir, limits: Limits, hidden=(), expose=(), sandbox_uid=None,
                 isolate: bool = True, template=None, **kw):
        super().__init__(**kw)
        # the kernel template to fork from (gradlab_grader.kernel.launcher), or None
        self.template = template
        self.forked = False  # the running kernel was forked from the template (set at launch)
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
                                       dir=template.base if template is not None else "/tmp")
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
        self._whole_kernel_limits(template)

    def _whole_kernel_limits(self, template) -> None:
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
            self.held.cgroup = kernellimits.Cgroup(getattr(template, "cgroup", None),
                                              self.limits.kernel_memory_bytes,
                                              self.limits.processes)

    @property
    def cgroup(self):
        """The kernel's own cgroup (gradlab_grader.kernel.limits), or None."""
        return self.held.cgroup

    async def _async_pre_start_kernel(self, **kw):
        if self.template is not None and self.provisioner is None:
            from .factory import provisioner_class

            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = provisioner_class()(kernel_id=self.kernel_id,
                                                   kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)

    def template_request(self, argv, env, cwd) -> dict:
        """What the kernel template needs to fork this kernel (gradlab_grader.kernel.factory)."""
        env = {k: v for k, v in env.items() if k != "JPY_PARENT_PID"}
        req = {"argv": list(argv), "env": env, "cwd": cwd or self.workdir,
               "uid": self.sandbox_uid, "rlimits": self.limits.rlimits(),
               "log": os.path.join(self.rundir, "kernel.log"), "isolate": self.isolate,
               "cgroup": self.cgroup.procs if self.cgroup is not None else []}
        if self.isolate:
            size = {"size": str(self.limits.tmpfs_bytes)} if self.limits.tmpfs_bytes else {}
            mine = [[self.rundir, False], [self.workdir, False]]
            ro = [[p, True] for p in self.template.readonly]
            uid = self.sandbox_uid if self.sandbox_uid is not None else 0
            req["tmpfs"] = [
                {"path": "/tmp", "options": {"mode": "1777", **size},
                 "keep": [k for k in mine + ro if inside(k[0], ["/tmp"])]},
                {"path": "/dev/shm", "options": {"mode": "1777", **size}, "keep": []},
            ]
            if self.home not in ("/", "/tmp") and not inside(self.home, SYSTEM_DIRS):
                req["tmpfs"].append(
                    {"path": self.home, "options": {"mode": "0700", "uid": uid, "gid": uid, **size},
                     "keep": [k for k in mine + ro if inside(k[0], [self.home])]})
        return req

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self.sandbox_uid is not None:
            os.chown(self.connection_file, self.sandbox_uid, self.sandbox_uid)
        # without bwrap the real $HOME is not masked: HOME is the socket directory instead
        kw["env"] = kernel_environment(kernel_cmd[0], self.home if self.isolate else self.rundir,
                                       "/tmp" if self.isolate else self.rundir, kw.get("env"))
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
        if self.template is not None and self.template.activate:
            # a module the template preloaded ran its IPython hooks without a shell: run them now
            boot.append(self.template.activate)
        if boot:
            kernel_cmd = [*kernel_cmd, "--IPKernelApp.exec_lines=" + "; ".join(boot)]
        # no ParentPoller: the launcher's pid means nothing in the sandbox's pid namespace
        kernel_cmd = [*kernel_cmd, "--IPKernelApp.parent_handle=0"]
        # forked by the template (it sets limits, uid, namespaces) when the kernel is the
        # template's Python running ipykernel; another kernel spec gets a sandbox of its own
        self.forked = self.template is not None and _forkable(kernel_cmd, self.template.python)
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
                    f"({size(self.limits.kernel_memory_bytes)}) and the kernel was stopped")
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
    cgroup: Cgroup | None = None


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


def sandboxed_kernel_manager(workdir, limits: Limits | None = None, hidden=(), expose=(),
                             kernel_name: str = "python3", require: bool = False,
                             sandbox_uid: int | None = None,
                             isolate: bool = True, template=None) -> SandboxedKernelManager:
    """A kernel manager for nbclient whose kernel runs in the sandbox over ``workdir``.

    workdir: the private working copy (the kernel's cwd, its only writable host directory; as
        root it is chowned to ``sandbox_uid``).
    hidden: paths masked inside the sandbox even if they lie in a visible directory (the
        workspace, ``solutions/``...).  expose: extra read-only paths (data sets, say).
    require: raise RuntimeError instead of falling back to limits only when bwrap is missing.
    sandbox_uid: uid the kernel runs as when the grader is root (default: a fresh one per
        kernel manager, see :mod:`gradlab_grader.kernel.bubblewrap`).
    isolate: False runs without bubblewrap on purpose (limits only, no warning).
    template: a :class:`~gradlab_grader.kernel.launcher.KernelTemplate` to fork the kernel from
        (``workdir`` must then lie in ``template.base``); None starts a fresh interpreter.
    """
    return SandboxedKernelManager(workdir=workdir, limits=limits or Limits(), hidden=hidden,
                                  expose=expose, sandbox_uid=sandbox_uid,
                                  isolate=bubblewrap.check(isolate, require),
                                  kernel_name=kernel_name, template=template)
