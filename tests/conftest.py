"""Shared fixtures: the repository and throw-away grading workspaces."""

from __future__ import annotations

import os
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
