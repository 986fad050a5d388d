"""nbgrader's Validate with the student lab's settings: each failing test shows as its one-line
name and its one message, never its code; an edited test is still reported as changed."""

from __future__ import annotations

import io
import os
import runpy
import subprocess
import sys
from pathlib import Path

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
    """The students' nbgrader_config.py (lib/jupyter-config) as nbgrader loads it (a config file
    run with `c`)."""
    c = Config()
    runpy.run_path(str(REPO / "lib" / "jupyter-config" / "nbgrader_config.py"), {"get_config": lambda: c})
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


# -- what a student who installs a bundle gets ---------------------------------------------------

@pytest.fixture(scope="module")
def student_env(tmp_path_factory):
    """The library's wheel, as a bundle ships it, installed (no dependencies) into a fresh prefix:
    ``(its site-packages, its etc/jupyter)`` — what ``pip install gradlab-….whl`` gives a student."""
    from gradlab_grader import bundle

    tmp = tmp_path_factory.mktemp("student")
    name, data = bundle.wheel_of(REPO / "lib")
    (tmp / name).write_bytes(data)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                    "--disable-pip-version-check", "--ignore-installed", "--prefix", str(tmp / "env"),
                    str(tmp / name)],
                   check=True)   # --ignore-installed: this environment's gradlab stays
    (site,) = (tmp / "env").glob("lib/python*/site-packages")
    return site, tmp / "env" / "etc" / "jupyter"


def test_nbgrader_validate_in_a_student_env_shows_one_message_per_failing_test(student_env, tmp_path):
    """`nbgrader validate` reads its nbgrader_config.py from the environment's jupyter config dir
    (nbgrader/apps/baseapp.py: NbGrader.load_config_file over jupyter_config_path(); the Validate
    button's handler, server_extensions/validate_assignment/handlers.py, loads the same paths)."""
    site, etc_jupyter = student_env
    nb = nbformat.v4.new_notebook()
    second = ("# Visible test (1 point): doubling a matrix.\n"
              "checks.compare(double, lambda x: 2 * x, np.ones((2, 2)), name='double(ones)')")
    nb.cells = [_cell(SETUP, "setup", locked=True), _cell("def double(x):\n    return x", "double", solution=True),
                _cell(TEST, "test_double", grade=True, locked=True, points=1),
                _cell(second, "test_double_matrix", grade=True, locked=True, points=1)]
    path = tmp_path / "course" / "nb.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    env = {**os.environ, "PYTHONPATH": str(site), "JUPYTER_CONFIG_PATH": str(etc_jupyter),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "no-user-config")}
    nbgrader = Path(sys.executable).with_name("nbgrader")
    done = subprocess.run([str(nbgrader), "validate", str(path)], cwd=path.parent, env=env,
                          capture_output=True, text=True, timeout=300)
    text = done.stdout
    assert text.count("The following cell failed:") == 2, text + done.stderr
    assert "    test_double: Visible test (1 point): doubling three numbers.\n" in text
    assert "    test_double_matrix: Visible test (1 point): doubling a matrix.\n" in text
    assert "Test failed: double([0, 1, 2])" in text and "Test failed: double(ones)" in text
    assert "checks.compare" not in text and "Traceback" not in text, text


def test_the_hook_is_validate_s_alone():
    """nbgrader's Execute in any other converter (an instructor's autograde in an environment with
    the library installed) keeps the test cells' sources: the setting is Validator's alone."""
    from nbgrader.preprocessors import Execute

    assert Execute(config=_student_config()).on_cell_error is None
    assert Execute(parent=Validator(config=_student_config())).on_cell_error is not None
