"""Both sides of the grader–library contract (gradlab_grader.contract) against the real library
and the real notebooks: a renamed handler, a new code format or an import the answers need that
integrity would flag fails here (no kernel: IPython's shell in-process)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import nbformat
import pytest

from gradlab_grader import contract
from gradlab_grader.cells import is_answer, is_locked
from gradlab_grader.imports import notebook_imports
from gradlab_grader.mistakes import load as load_mistakes
from gradlab_grader.outputs.results import _diagnostic

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "lib" / "gradlab"
SOLUTIONS = sorted((REPO / "solutions").glob("*/*.ipynb"))
checks = importlib.import_module(contract.CHECKS_MODULE)


# where the library writes a diagnostic code: CheckFailure(problem, code, …) in checks, and the
# findings of diagnosis (Finding(text, hint, code), found(relation, hint, code))
CODE_ARGUMENT = {contract.CHECK_FAILURE: 1, "Finding": 2, "found": 2}


def sources() -> list[str]:
    """The library's modules (its subpackages too) and the notebooks' code cells (a test may raise its own failure)."""
    cells = [c.source for path in SOLUTIONS for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code"]
    return [path.read_text() for path in sorted(LIBRARY.rglob("*.py"))] + cells


def codes_the_library_raises() -> set[str]:
    """Every diagnostic code the library and the notebooks write as a literal (a conditional's
    branches too)."""
    codes = set()
    for source in sources():
        try:
            tree = ast.parse(source)
        except SyntaxError:  # a cell with a magic
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = CODE_ARGUMENT.get(getattr(node.func, "id", getattr(node.func, "attr", "")))
            given = node.args[where:where + 1] + [k.value for k in node.keywords if k.arg in ("diagnostic", "code")] \
                if where is not None else []
            codes |= {c.value for g in given for c in ast.walk(g)
                      if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return codes


def test_every_code_the_checks_write_is_the_code_results_read():
    codes = codes_the_library_raises()
    assert {"shape", "factor", "sign", "known-mistake", "tripwire", "part"} <= codes, codes
    failure_class = getattr(checks, contract.CHECK_FAILURE)
    for code in sorted(codes):
        error = f"{failure_class.__name__}: {failure_class('expected 1, got 2', code, call='f(1)', hint='h')}"
        assert _diagnostic(error) == code, error
    # the exceptions install_handler turns into a message keep a code too: a stub, a plain assert
    assert _diagnostic("NotImplementedError: `f` is not implemented yet") == "not-implemented"


def test_every_mistake_set_names_a_code_the_checks_can_write():
    written = codes_the_library_raises() | {"not-implemented", "syntax-error", "assert", "error"}
    for folder in sorted((REPO / "solutions").iterdir()):
        for mistake in load_mistakes(folder) if (folder / "mistakes").is_dir() else []:
            assert contract.CHECK_CODE.search(f"x (check: {mistake.hint})"), mistake
            assert mistake.hint in written, f"{folder.name}/{mistake.name}: no check writes {mistake.hint!r}"


class FakeShell:
    def set_custom_exc(self, exc_tuple, handler):
        self.exc_tuple, self.handler = exc_tuple, handler


def test_the_handler_is_the_one_install_handler_sets():
    shell = FakeShell()
    getattr(checks, contract.INSTALL_HANDLER)(shell)
    assert shell.handler is getattr(checks, contract.HANDLER)
    assert shell.exc_tuple == (getattr(checks, contract.CHECK_FAILURE), Exception)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.parent.name)
def test_each_notebook_installs_the_handler_in_a_locked_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert is_locked(setup) and not is_answer(setup)
    calls = {ast.unparse(n.func) for n in ast.walk(ast.parse(setup.source)) if isinstance(n, ast.Call)}
    assert f"checks.{contract.INSTALL_HANDLER}" in calls, setup.source


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.parent.name)
def test_what_the_answers_import_is_allowed(path):
    """The solutions' own answers import nothing integrity would name for a human look."""
    nb = nbformat.read(path, as_version=4)
    imported = {i.module.split(".")[0] for i in notebook_imports(nb, is_answer)}
    assert imported <= contract.ALLOWED_IMPORTS, imported - contract.ALLOWED_IMPORTS
