"""A grading kernel's environment and options, built once for fresh kernels, forked kernels and
their template, and for nbgrader's own Execute (no kernel)."""

from __future__ import annotations

import os

from gradlab_grader import Workspace
from gradlab_grader.kernelenv import THREAD_ENV, kernel_arguments, kernel_environment


def test_the_environment_keeps_only_what_a_kernel_needs():
    grader = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "AWS_SECRET_ACCESS_KEY": "x",
              "PYTHONPATH": "/work/src", "HOME": "/root", "TMPDIR": "/var/tmp", "OMP_NUM_THREADS": "8",
              "JUPYTER_TOKEN": "t", "GRADLAB_DIAGNOSIS": "off"}  # the last: the checks' switch, grader-side
    env = kernel_environment("/opt/venv/bin/python", "/home/k", "/tmp", grader)
    assert env == {"PATH": "/opt/venv/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                   **THREAD_ENV, "MPLBACKEND": "module://matplotlib_inline.backend_inline",
                   "HOME": "/home/k", "TMPDIR": "/tmp"}
    assert grader["OMP_NUM_THREADS"] == "8"  # the caller's mapping is not changed


def test_a_chosen_backend_stays_and_the_default_is_the_graders_environment(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "agg")
    monkeypatch.setenv("GRADLAB_SOMETHING_PRIVATE", "1")
    env = kernel_environment("/usr/bin/python3", "/h", "/t")
    assert env["MPLBACKEND"] == "agg" and "GRADLAB_SOMETHING_PRIVATE" not in env
    assert env["PATH"].split(os.pathsep)[0] == "/usr/bin"


def test_nbgrader_and_the_engine_start_kernels_with_the_same_options(tmp_path):
    settings = Workspace(tmp_path / "ws").settings()
    assert settings["Execute"]["extra_arguments"] == kernel_arguments()
    assert kernel_arguments(figures=False) == [*kernel_arguments(), "--InlineBackend.figure_formats=[]"]
