"""What a submission did to the parts of the notebook that are not the student's to change.

nbgrader restores locked cells (tests included) from the gradebook before it runs a submission,
and gradlab drops execution tags, so none of these changes earns a point; but each is worth a
human look, and the summary names it:

* a test cell deleted, or its nbgrader metadata changed (nbgrader cannot score it: 0 points);
* an answer cell whose nbgrader metadata was removed (its code is no longer recognised);
* a test cell whose code was edited (restored before grading);
* a cell with nbgrader metadata the release did not give it (an id it does not know, or a
  copy of a released cell): ignored, graded as a plain cell (``cells.drop_foreign_cells``);
* execution tags (``skip-execution``, ``raises-exception``) the release did not give a cell
  (ignored: every cell runs; the release itself tags each test ``raises-exception``);
* answer code that rewrites imported modules or switches off the checks' call tracing
  (``checks.compare = …``, ``setattr(np, …)``, ``sys.setprofile``, ``exec``), reads files
  (``open``), or imports what no answer needs (``os``, ``sqlite3``, ``threading`` …): the tests
  could be fooled or the workspace read.
"""

from __future__ import annotations

import ast

from .cells import cells_by_id, execution_tags, foreign_cells, grade_id, is_answer, is_test, nbgrader_meta


def inspect_submission(released, submitted) -> list[str]:
    """Findings about ``submitted`` compared with the ``released`` notebook it started from."""
    findings = []
    given, handed_in = cells_by_id(released), cells_by_id(submitted)
    tests = [gid for gid, c in given.items() if is_test(c)]
    answers = [gid for gid, c in given.items() if is_answer(c)]

    gone = [gid for gid in tests if not is_test(handed_in.get(gid, {}))]
    if gone:
        findings.append(f"test cells deleted or their metadata changed ({_few(gone)}): scored 0")
    lost = [gid for gid in answers if gid not in handed_in]
    if lost:
        findings.append(f"answer cells lost their nbgrader metadata ({_few(lost)}): their code is not graded")
    # nbgrader stamps each locked cell with a checksum of what was released; comparing with it
    # (rather than with today's release) keeps a later re-release from flagging everyone
    edited = [gid for gid in tests if gid in handed_in and _edited(handed_in[gid])]
    if edited:
        findings.append(f"test cells edited ({_few(edited)}): restored before grading")
    unknown, copied = foreign_cells(submitted, set(given))
    if unknown:
        findings.append(f"cells with nbgrader ids the release does not have ({_few(unknown)}): "
                        "ignored, run as plain cells")
    if copied:
        findings.append(f"cells copied with their nbgrader id ({_few(copied)}): only the last copy is graded")
    patches = sorted({p for gid in answers if gid in handed_in for p in monkeypatches(handed_in[gid].source)})
    if patches:
        findings.append(f"answer code rewrites library or test code at run time ({_few(patches)})")
    # the release tags each test cell raises-exception (Run All goes on past a failing test):
    # only tags the release did not give a cell are the student's doing
    added = [execution_tags(c) - execution_tags(given.get(grade_id(c), {})) for c in submitted.cells]
    if any(added):
        tags = ", ".join(sorted(set().union(*added)))
        findings.append(f"{sum(map(bool, added))} cells tagged to change how they run ({tags}): "
                        "ignored, every cell ran")
    return findings


def _edited(cell) -> bool:
    from nbgrader.utils import compute_checksum

    stamped = nbgrader_meta(cell).get("checksum")
    return stamped is not None and compute_checksum(cell) != stamped


def _few(ids: list[str], shown: int = 3) -> str:
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


TRACE_CALLS = {"setprofile", "settrace", "setattr", "delattr", "exec", "eval", "compile", "vars",
               "globals", "__import__", "open"}
DUNDERS = {"__code__", "__dict__", "__globals__", "__builtins__", "__subclasses__", "__closure__"}
# What an answer in this course may import; anything else (os, sqlite3, threading, ctypes, …)
# has no business in a derivative or a gradient and is named for a human to look at.
ALLOWED_IMPORTS = {"numpy", "math", "cmath", "itertools", "functools", "collections", "typing",
                   "dataclasses", "operator", "fractions", "decimal", "statistics", "random",
                   "copy", "matplotlib", "scipy", "gradlab", "autograd", "__future__"}


def monkeypatches(source: str) -> list[str]:
    """Places where ``source`` assigns to an attribute of an imported module, or calls
    ``setattr``/``sys.setprofile``-like functions.  Code that does not parse yields nothing
    (it fails on its own when it runs)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    modules = {alias.asname or alias.name.split(".")[0]
               for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
               for alias in node.names}
    modules |= {"np", "numpy", "gradlab", "checks", "ref", "sys", "builtins", "__builtins__"}
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and _root(target) in modules:
                found.append(f"{ast.unparse(target)} = …")
            if isinstance(target, ast.Attribute) and target.attr == "__code__":
                found.append(f"{ast.unparse(target)} = …")
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in TRACE_CALLS:
                found.append(f"{ast.unparse(node.func)}(…)")
        if isinstance(node, ast.Attribute) and node.attr in DUNDERS and isinstance(node.ctx, ast.Load):
            found.append(ast.unparse(node))
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"import {n}" for n in names if n.split(".")[0] not in ALLOWED_IMPORTS]
    return list(dict.fromkeys(found))


def _root(node) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""
