"""Shared fixtures: the repository and throw-away grading workspaces."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for this test session (tests/services.py); ``.create_database``
    gives a fresh gradebook URL.  Skipped without PostgreSQL, a failure with ``CI=true``."""
    from services import PostgresServer

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
