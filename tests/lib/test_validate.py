"""nbgrader's Validate with the student lab's settings: each failing test shows as its one-line
name and its one message, never its code; an edited test is still reported as changed."""

from __future__ import annotations

import io
import os
import runpy

import nbformat
import pytest
from nbgrader import utils
from nbgrader.validator import Validator
from traitlets.config import Config

from conftest import REPO

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

SETUP = "import numpy as np\nfrom gradlab import checks\nchecks.install_handler()"
STUB = "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
TEST = ("# Visible test (1 point): doubling three numbers.\n"
        "checks.compare(double, lambda x: 2 * x, np.arange(3.0), name='double([0, 1, 2])')")


def _cell(source, grade_id, **nbgrader):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3, "grade": False,
                                 "solution": False, "locked": False, **nbgrader}
    cell.metadata["nbgrader"]["checksum"] = utils.compute_checksum(cell)
    return cell


def _student_config() -> Config:
    """lab/student/nbgrader_config.py as nbgrader loads it (a config file run with `c`)."""
    c = Config()
    runpy.run_path(str(REPO / "lab" / "student" / "nbgrader_config.py"), {"get_config": lambda: c})
    return c


@pytest.fixture
def validate(tmp_path):
    def run(test_source=TEST, answer="def double(x):\n    return x"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [_cell(SETUP, "setup", locked=True), _cell(answer, "double", solution=True),
                    _cell(TEST, "test_double", grade=True, locked=True, points=1)]
        nb.cells[2].source = test_source   # what the student's file holds (edited or not)
        path = tmp_path / "nb.ipynb"
        nbformat.write(nb, path)
        validator = Validator(config=_student_config())
        validator.stream = io.StringIO()
        cwd = os.getcwd()
        try:
            validator.validate_and_print(str(path))
        finally:
            os.chdir(cwd)
        return validator.stream.getvalue()
    return run


def test_a_failing_test_is_its_name_and_its_message(validate):
    text = validate()
    assert "The following cell failed:\n\n    test_double: Visible test (1 point): doubling three numbers.\n" in text
    assert "Test failed: double([0, 1, 2])" in text and "checks.compare" not in text


def test_an_edited_test_is_still_reported_with_its_source(validate):
    text = validate(TEST + "\n# edited")
    assert "HAVE CHANGED" in text and "checks.compare" in text
