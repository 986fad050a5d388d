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
