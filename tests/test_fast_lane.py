"""`make test-fast` leaves out the tests marked kernel, browser or slow; the guard in
tests/conftest.py makes an unmarked test that starts a kernel or the grader fail, so the lane
stays fast as tests are added."""

from __future__ import annotations

import subprocess
import sys

import pytest

import conftest


def _forget(request):
    # these tests trip the guard on purpose: what they started is not held against them
    conftest._current["started"].pop(request.node.nodeid, None)


def test_an_unmarked_test_cannot_start_a_kernel(request):
    from jupyter_client.manager import KernelManager

    try:
        with pytest.raises(RuntimeError, match="not marked"):
            KernelManager(kernel_name="python3").start_kernel()
    finally:
        _forget(request)


@pytest.mark.parametrize("argv", [[sys.executable, "-m", "gradlab_grader.cli", "--help"],
                                  ["jupyter", "--version"], "dask scheduler"])
def test_an_unmarked_test_cannot_start_the_grader_jupyter_or_dask(request, argv):
    try:
        with pytest.raises(RuntimeError, match="not marked"):
            subprocess.Popen(argv, shell=isinstance(argv, str))
    finally:
        _forget(request)


def test_an_unmarked_test_may_run_other_processes():
    assert subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout == "42\n"


@pytest.mark.kernel
def test_a_marked_test_may():
    conftest._heavy("a Jupyter kernel")  # no error
