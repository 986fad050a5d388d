"""Run a notebook's test cells on a replaced answer cell, in this process (no kernel): what each
failing test would show a student.  Used by the corpus measure and the generic wrong answers."""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import lru_cache

import matplotlib
import nbformat

from gradlab import checks, diagnosis
from gradlab_grader.cells import exercise_of_cells, grade_id, is_answer, is_test, solution_source

from conftest import REPO

matplotlib.use("Agg")
NOTEBOOKS = {p.parent.name: p for p in (REPO / "solutions").glob("*/*.ipynb")}


@lru_cache(maxsize=None)
def _notebook(assignment):
    return nbformat.read(NOTEBOOKS[assignment], as_version=4)


def _assignment_of(exercise):
    for name in sorted(NOTEBOOKS):
        if exercise in {grade_id(c) for c in _notebook(name).cells if is_answer(c)}:
            return name
    raise KeyError(exercise)


def outcomes(exercise: str, source: str, tests_of: str | None = None):
    """[(test id, None | CheckFailure | the raw exception)] for every test cell of ``tests_of``
    (default: ``exercise``) with the answer cell ``exercise`` replaced by ``source`` (the other
    answers: the solutions)."""
    nb = _notebook(_assignment_of(exercise))
    owner = exercise_of_cells(nb)
    ids = [grade_id(c) for c in nb.cells]
    last = max(i for i, g in enumerate(ids) if owner.get(g) == (tests_of or exercise))
    before_last = set(ids[:last])
    ns = {"__name__": "__main__"}
    results = []
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            gid = grade_id(cell)
            if is_test(cell):
                if owner.get(gid) != (tests_of or exercise):
                    if gid in before_last:   # an earlier test: its definitions (FORBIDDEN, helpers)
                        try:
                            exec(compile(cell.source, f"<{gid}>", "exec"), ns)
                        except Exception:  # noqa: BLE001
                            pass
                    continue
                try:
                    exec(compile(cell.source, f"<{gid}>", "exec"), ns)
                    results.append((gid, None))
                except Exception as exc:  # noqa: BLE001 - what a student would see
                    results.append((gid, shown(exc)))
            elif is_answer(cell):
                text = source if gid == exercise else solution_source(cell.source)
                exec(compile(text, f"<{gid}>", "exec"), ns)
            else:   # the setup and given code (classes, helpers); a figure cell's definitions only
                try:
                    exec(compile(cell.source if _defines_only(cell.source) else _definitions(cell.source),
                                 f"<{gid}>", "exec"), ns)
                except Exception:  # noqa: BLE001 - a demonstration that needs an unfinished part
                    pass
    return results


def _defines_only(source: str) -> bool:
    """A cell of imports, definitions and constants: no figure, no long demonstration."""
    import ast
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    calls_ok = ("install_handler", "set_printoptions", "default_rng", "array", "seterr")
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if getattr(func, "attr", getattr(func, "id", "")) in calls_ok:
                continue
        if isinstance(node, ast.Assign) and "plt" not in ast.unparse(node) and "train" not in ast.unparse(node):
            continue
        return False
    return True


def _definitions(source: str) -> str:
    import ast
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, keep))


def shown(exc):
    """The CheckFailure a student's handler shows, or the raw exception (a traceback)."""
    if isinstance(exc, checks.CheckFailure):
        return exc
    if isinstance(exc, NotImplementedError):
        return checks._unfinished(exc) or exc
    if isinstance(exc, AssertionError):   # a test cell's own assert: the handler shows its message
        return checks._plain_assert(exc) or exc
    where = diagnosis._student_frame(exc, [])   # as the handler: an error inside a notebook function
    if where is not None and where[0] != "<module>":
        problem, hint = diagnosis.student_error(exc, "", [])
        return checks.CheckFailure(problem, "error", call=f"{where[0]}(...)", hint=hint)
    return exc
