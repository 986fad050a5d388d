"""Shared fixtures: the repository and throw-away grading workspaces."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def pytest_configure(config):
    # Headless plotting everywhere (notebooks import matplotlib).
    os.environ.setdefault("MPLBACKEND", "Agg")
    # One BLAS thread per kernel: the suite runs two workers on two cores, each starting
    # kernels; BLAS threads on top of that fight over the cores and slow a notebook ten-fold.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    _install_heavy_guard()


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for this test session (tests/services.py); ``.create_database``
    gives a fresh gradebook URL.  Skipped without PostgreSQL, a failure with ``CI=true``."""
    from services import PostgresServer

    _heavy("a PostgreSQL server")
    # its own directory under /tmp: the server's user must reach it (pytest's tmp is 0700 root)
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="gradlab-pg-"))).start()
    try:
        yield server
    finally:
        server.stop()


def gradebook_url(request, name: str) -> str | None:
    """``None`` (the workspace's SQLite gradebook) or a fresh PostgreSQL database, as
    ``request.param`` says: the end-to-end fixtures run once on each."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres").create_database(name)


# -- the fast lane (`make test-fast`: -m "not kernel and not browser and not slow") ---------------
# A test that starts a Jupyter kernel, grading workers or a service must carry one of these
# markers; one that does so unmarked fails, naming what it started (checked in this process and
# in what it forks; a spawned grading worker is caught when it is spawned).
HEAVY_MARKERS = ("kernel", "browser", "slow")
_current: dict = {"item": None, "started": {}}


def _heavy(what: str) -> None:
    item = _current["item"]
    if item is None or any(item.get_closest_marker(m) for m in HEAVY_MARKERS):
        return
    _current["started"].setdefault(item.nodeid, what)
    raise RuntimeError(f"{item.nodeid} starts {what} but is not marked: add `pytestmark = pytest.mark.kernel`")


def _install_heavy_guard() -> None:
    import multiprocessing.context

    from jupyter_client.manager import KernelManager

    def guarded(cls, name, what):
        original = getattr(cls, name)
        if getattr(original, "_heavy_guard", False):
            return

        def wrapper(*args, **kwargs):
            _heavy(what)
            return original(*args, **kwargs)

        wrapper._heavy_guard = True
        setattr(cls, name, wrapper)

    # every kernel gradlab or nbclient starts passes KernelManager's pre-start (the sandboxed
    # manager calls it through super()); grading workers and Dask's are spawned processes
    guarded(KernelManager, "_async_pre_start_kernel", "a Jupyter kernel")
    guarded(multiprocessing.context.SpawnProcess, "start", "a spawned process (grading workers)")
    original_popen = subprocess.Popen.__init__
    if not getattr(original_popen, "_heavy_guard", False):
        def popen(self, args, *rest, **kwargs):
            words = [str(a) for a in ([args] if isinstance(args, (str, bytes, os.PathLike)) else args)]
            hit = next((w for w in words for name in HEAVY_COMMANDS if name in w), None)
            if hit:
                _heavy(f"a process running {hit}")
            original_popen(self, args, *rest, **kwargs)

        popen._heavy_guard = True
        subprocess.Popen.__init__ = popen


# commands whose process grades, starts kernels or serves (the grader's CLI, its kernel template,
# Jupyter, Dask, PostgreSQL, a browser)
HEAVY_COMMANDS = ("gradlab_grader.cli", "bin/gradlab", "kernelfactory.py", "ipykernel", "jupyter", "dask",
                  "pg_ctl", "initdb", "chromium")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _current["item"] = item


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    result = yield  # the fixtures are torn down first
    _current["item"] = None
    what = _current["started"].pop(item.nodeid, None)
    if what:
        pytest.fail(f"{item.nodeid} started {what}: mark it `kernel` (the fast lane leaves it out)", pytrace=False)
    return result
