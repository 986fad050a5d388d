"""How every grading kernel starts: its environment and its command-line options, once.

A kernel launched fresh (kernel.sandbox), a kernel forked from a worker's template
(kernel.factory) and the template itself get the environment of :func:`kernel_environment`;
gradlab's engine and nbgrader's own Execute (the workspace's settings) give every kernel the
options of :func:`kernel_arguments`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Threads of numerical libraries: N parallel kernels on N cores each want one thread, and every
# thread counts against RLIMIT_NPROC (OpenBLAS starts one per core, 64 on a big server); read
# when NumPy is imported, so a template forks no thread.
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Environment variables passed into the sandbox; everything else (tokens, credentials, paths of
# the grader: PYTHONPATH, PYTHONHOME) stays out.  The sandbox's prelude also drops JPY_PARENT_PID
# (jupyter_client adds it at launch): that pid means nothing in the sandbox's pid namespace,
# where the kernel's parent is pid 1 and ipykernel takes it for a dead parent (bwrap's
# --die-with-parent does that job).
ENV_KEEP = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "MPLBACKEND", "PYTHONHASHSEED",
            "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "NBGRADER_EXECUTION", "JPY_SESSION_NAME",
            "PYDEVD_DISABLE_FILE_VALIDATION", *THREAD_ENV)

# matplotlib's inline backend, unless the caller's environment names another
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

# no history file per kernel; the kernel's start-up chatter (a TCP notice) is not the
# instructor's business
KERNEL_ARGS = ("--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR")
# a kernel that does not draw figures: matplotlib's inline backend gets no image format, so a
# figure is shown by its text, "<Figure size 650x450 with 1 Axes>" (see Workspace.draws_figures)
NO_FIGURES = ("--InlineBackend.figure_formats=[]",)


def kernel_environment(python: str, home: str, tmpdir: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a kernel running ``python``: the allowlist :data:`ENV_KEEP` of ``env``
    (default: the grader's), one thread per numerical library, ``python``'s folder first on
    ``PATH`` (its ``pip``, ``jupyter``), the inline backend, and ``home`` and ``tmpdir`` as
    ``$HOME`` and ``$TMPDIR`` (a HOME or TMPDIR the caller chose is replaced)."""
    env = os.environ if env is None else env
    out = {k: v for k, v in env.items() if k in ENV_KEEP or k.startswith("LC_")}
    out.update(THREAD_ENV)
    out["PATH"] = os.pathsep.join([os.path.dirname(python), out.get("PATH", os.defpath)])
    out.setdefault("MPLBACKEND", INLINE_BACKEND)
    out["HOME"], out["TMPDIR"] = home, tmpdir
    return out


def kernel_arguments(figures: bool = True) -> list[str]:
    """The command-line options of a grading kernel (``figures=False``: it draws none)."""
    return [*KERNEL_ARGS, *([] if figures else NO_FIGURES)]
