"""Where the grading engine's kernels come from: a :class:`KernelLauncher`.

One implementation, :class:`Launcher`, gives every kernel the limits; it starts a
fresh interpreter per kernel, under bubblewrap or not (:mod:`gradlab_grader.kernel.sandbox`), or
forks it from the worker's :class:`KernelTemplate` where :func:`template_mode` says so.
:func:`launcher` makes one from the grader's one question, ``sandbox``: True (bubblewrap
required), None (bubblewrap if it works, else limits only, said once), False (limits only, on
purpose).

Kernels forked from a template (:mod:`gradlab_grader.kernel.factory`).  A :class:`Launcher`
(one per worker) forks its kernels from one long-lived template process that has imported
ipykernel and the preload list, instead of starting an interpreter per kernel, where
:func:`template_mode` says so:

- **root with bubblewrap**: the template runs inside one sandbox built like a kernel's
  (:mod:`gradlab_grader.kernel.bubblewrap`), with a per-worker base folder (0711) bound read-write and
  ``CAP_SYS_ADMIN`` kept besides ``CAP_SETUID``/``CAP_SETGID``.  Each forked kernel makes its own
  mount, network and IPC namespaces, private tmpfs on ``/tmp``, ``/dev/shm`` and ``$HOME`` (its
  own working copy and socket folder, 0700 and chowned to its uid, bound back), a ``/proc`` that
  hides other uids' processes, sets the rlimits, drops to its own uid with no capabilities and
  ``no_new_privs``.  The pid namespace is the template's (shared by the worker's kernels, which
  cannot see or signal each other: different uids, ``hidepid=2``); what a kernel leaves running
  is killed with a ``kill(-1)`` made as its uid when it ends.
- **no bubblewrap** (limits only, or ``sandbox=False``): the template runs unsandboxed, same code;
  each kernel gets the limits and a private ``HOME``/``TMPDIR``.
- **a user with bubblewrap** (a laptop): one bubblewrap per kernel as described above, no template:
  in one user namespace all kernels would share a uid and could reach each other.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import weakref
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..contract import DEFAULT_PRELOAD  # what a kernel template imports when the caller names nothing
from ..kernelenv import kernel_environment
from . import limits as kernellimits
from .bubblewrap import available, bwrap_args, python_paths, unavailable_reason
from .resources import Limits
from .sandbox import KernelHandle, SandboxedKernelManager, sandboxed_kernel_manager


@runtime_checkable
class KernelLauncher(Protocol):
    """What the engine asks of a launcher: a kernel (not started yet) with its working copy,
    whether its kernels run sandboxed and with limits per kernel, and ``close()`` (the
    template, if any, stops)."""

    sandboxed: bool
    whole_kernel: bool

    def kernel(self) -> KernelHandle: ...

    def close(self) -> None: ...


def template_mode(isolate: bool) -> bool:
    """Whether kernels are forked from a template (gradlab_grader.kernel.factory): as root under
    bubblewrap (each kernel gets its own uid and namespaces from the template), and without
    bubblewrap.  A user with bubblewrap keeps one sandbox per kernel: inside one shared user
    namespace every kernel would have the same uid, and could signal or read its neighbours."""
    if os.environ.get("GRADLAB_KERNEL_FACTORY", "1") == "0":
        return False
    return not (isolate and available()) or os.geteuid() == 0


class KernelTemplate:
    """The kernel template of one worker, and the folder its kernels' working copies live in.

    Root under bubblewrap: the template runs inside one sandbox built like a kernel's (system and
    Python read-only, hidden paths masked, no network, private /tmp and $HOME) with the base
    folder bound read-write and CAP_SYS_ADMIN/CAP_SETUID/CAP_SETGID kept, which each forked
    kernel uses to make its own namespaces and drop to its own uid, then loses.  The base folder
    is 0711: a kernel reaches its own folders (0700, its uid) but cannot list its siblings'.
    """

    def __init__(self, limits: Limits, hidden=(), expose=(), isolate=True, preload=None,
                 python: str = sys.executable):
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
        env = kernel_environment(python, home if isolate else self.base, "/tmp" if isolate else self.base)
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
        self._finalizer = weakref.finalize(self, _close_template, self.factory, self.base,
                                           self.shared, self.cgroup)

    def spawn(self, request):
        return self.factory.spawn(request)

    def make_workdir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="gradlab-kernel-", dir=self.base))

    def close(self):
        self._finalizer()


def _close_template(factory, base, shared=False, cgroup=None):
    factory.close()
    if cgroup is not None:
        cgroup.remove()
    if shared:
        kernellimits.unmount(base)
    if not os.environ.get("GRADLAB_SANDBOX_KEEP"):
        shutil.rmtree(base, ignore_errors=True)


class Launcher:
    """The :class:`KernelLauncher` of the grader: ``launcher(sandbox).kernel_manager(workdir)``.

    ``sandboxed`` tells whether its kernels really run under bubblewrap (False: limits only),
    ``whole_kernel`` whether limits per kernel hold on this machine.  Where :func:`template_mode`
    says so, kernels are forked from one template per launcher (started with the first kernel,
    stopped by :meth:`close`); ``make_workdir()`` gives the working copy a kernel of this
    launcher can reach.
    """

    def __init__(self, limits: Limits | None = None, hidden=(), expose=(), required=False,
                 isolate=True, preload=None, template: bool | None = None):
        self.limits = limits or Limits()
        self.hidden, self.expose, self.required = list(hidden), list(expose), required
        self.isolate = isolate
        self.sandboxed = isolate and available()
        self.whole_kernel = kernellimits.available()  # limits per kernel hold here
        self.preload = preload
        self.use_template = template_mode(isolate) if template is None else template
        self._template: KernelTemplate | None = None

    @property
    def template(self) -> KernelTemplate | None:
        if self.use_template and self._template is None:
            self._template = KernelTemplate(self.limits, self.hidden, self.expose,
                                            isolate=self.sandboxed, preload=self.preload)
        return self._template if self.use_template else None

    def make_workdir(self) -> Path:
        template = self.template
        if template is not None:
            return template.make_workdir()
        return Path(tempfile.mkdtemp(prefix="gradlab-kernel-"))

    def kernel_manager(self, workdir) -> SandboxedKernelManager:
        return sandboxed_kernel_manager(workdir, self.limits, self.hidden, self.expose,
                                        require=self.required, isolate=self.isolate,
                                        template=self.template)

    def kernel(self) -> KernelHandle:
        """A kernel of this launcher, not started, in a working copy of its own."""
        return KernelHandle.of(self.kernel_manager(self.make_workdir()))

    def close(self) -> None:
        if self._template is not None:
            self._template.close()
            self._template = None


def launcher(sandbox: bool | None = None, hidden=(), preload=None, limits: Limits | None = None,
             expose=(), template: bool | None = None) -> Launcher:
    """The kernels of a grading worker, with resource limits always, under
    bubblewrap unless ``sandbox`` is False.  ``sandbox=True`` makes a missing bubblewrap an
    error; None falls back to limits only (said once, :func:`~gradlab_grader.kernel.bubblewrap.check`);
    False runs without bubblewrap on purpose and without the warning (what a benchmark compares
    the sandbox against).

    ``hidden``: local paths a kernel must not see even in a visible folder; ``expose``: extra
    read-only paths.  ``preload``: modules the kernel template imports (default
    :data:`DEFAULT_PRELOAD`); ``template``: force the template on or off (default
    :func:`template_mode`).
    """
    required, isolate = bool(sandbox), sandbox is not False
    if required and not available():
        raise RuntimeError(unavailable_reason())
    return Launcher(limits, hidden, expose, required, isolate, preload, template)
