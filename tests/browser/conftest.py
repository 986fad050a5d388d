"""Fixtures for the real-browser tests (JupyterLab + Debian's Chromium through Playwright).

* ``lab_root``  — a session folder the lab serves; tests write or copy notebooks into it.
* ``lab``       — one JupyterLab server per session serving ``lab_root`` (a :class:`Lab`), with
                  every extension installed (nbgrader's instructor tools too).
* ``student_lab`` — the students' lab (``make lab``: the students' settings) serving a copy
                  of ``course/``.
* ``browser``   — one headless Chromium per session.
* ``page``      — a fresh browser context + page per test; ``page.errors_seen`` lists the page's
                  uncaught exceptions and console errors.
* ``artifacts`` — ``tests/browser/artifacts/`` (git-ignored): screenshots kept after the run.

Without Playwright or ``/usr/bin/chromium`` the tests are skipped with the reason — and fail
instead when ``CI=true`` (`make test` installs both when it can).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from browser import harness

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
REPO = Path(__file__).resolve().parents[2]


def _require_browser():
    problem = harness.browser_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the real-browser tests cannot run: {problem}", pytrace=False)
    pytest.skip(f"real-browser test skipped: {problem}")


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory):
    return tmp_path_factory.mktemp("lab-root")


@pytest.fixture(scope="session")
def lab(lab_root):
    _require_browser()
    with harness.jupyter_lab(lab_root) as server:
        yield server


@pytest.fixture(scope="session")
def student_lab(tmp_path_factory):
    """The students' lab as ``make lab`` starts it (``harness.STUDENT_CONFIG``), serving a
    copy of ``course/`` that tests may change."""
    _require_browser()
    root = tmp_path_factory.mktemp("student-course")
    shutil.copytree(REPO / "course", root, dirs_exist_ok=True)
    with harness.jupyter_lab(root, config_path=harness.STUDENT_CONFIG) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    _require_browser()
    with harness.launch_chromium() as chromium:
        yield chromium


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(browser, request):
    """A fresh page; when the test fails, its last state is saved as a screenshot artifact."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.errors_seen = harness.watch_errors(page)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"{request.node.name}-failure.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"failure screenshot: {shot}")
        except Exception as exc:                     # the page may be gone; keep the real error
            print(f"no failure screenshot: {exc}")
    context.close()


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
