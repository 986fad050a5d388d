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
* answer code, each line saying what was seen: it rewrites imported modules
  (``checks.compare = …``, ``setattr(np, …)``, ``sys.modules[…] = …``), switches call tracing
  (``sys.setprofile``), runs code built at run time (``exec``), reaches into the interpreter's
  internals (frames, ``__code__``, ``__globals__``), reads files (``open``), or imports what no
  answer needs (``os``, ``sqlite3``, ``threading`` …; ``sys`` for ``setrecursionlimit``, ``time``
  or ``warnings`` are no finding): the tests could be fooled or the workspace read.
"""

from __future__ import annotations

import ast

from ..cells import cells_by_id, execution_tags, foreign_cells, grade_id, is_answer, is_test, nbgrader_meta
from ..contract import ALLOWED_IMPORTS
from ..imports import imports_in


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
    seen: dict[str, list[str]] = {}
    for gid in answers:
        for kind, what in code_findings(handed_in[gid].source if gid in handed_in else ""):
            seen.setdefault(kind, []).append(what)
    findings += [f"answer code {kind} ({_few(sorted(set(what)))})" for kind, what in seen.items()]
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


# What an answer's code is flagged for, by what was seen (each kind is one line of findings):
REWRITES = "rewrites library or test code at run time"
TRACING = "switches call tracing"
DYNAMIC = "runs code built at run time"
INTERNALS = "reaches into the interpreter's internals"
FILES = "reads files"
IMPORTS = "imports what no answer needs"
CALLS = {"setattr": REWRITES, "delattr": REWRITES, "setprofile": TRACING, "settrace": TRACING,
         "exec": DYNAMIC, "eval": DYNAMIC, "compile": DYNAMIC, "__import__": DYNAMIC,
         "vars": INTERNALS, "globals": INTERNALS, "open": FILES}
INTERNAL_ATTRIBUTES = {"__code__", "__dict__", "__globals__", "__builtins__", "__subclasses__", "__closure__",
                       "_getframe", "f_back", "f_locals", "f_globals", "gi_frame", "cr_frame", "tb_frame"}


def code_findings(source: str) -> list[tuple[str, str]]:
    """(kind, what was seen) for each place in ``source`` worth a human look: an attribute of
    an imported module assigned (or ``sys.modules[…]``), tracing switched, code built at run time,
    the interpreter's internals (frames, ``__code__``, ``__globals__``), files read, an import no
    answer needs.  Code that does not parse yields nothing (it fails on its own when it runs)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    imported = imports_in(source)
    modules = {imp.bound for imp in imported}
    modules |= {"np", "numpy", "gradlab", "checks", "ref", "sys", "builtins", "__builtins__"}
    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and (_root(target) in modules or target.attr == "__code__"):
                found.append((REWRITES, f"{ast.unparse(target)} = …"))
            if isinstance(target, ast.Subscript) and ast.unparse(target.value) == "sys.modules":
                found.append((REWRITES, "sys.modules[…] = …"))
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in CALLS:
                found.append((CALLS[name], f"{ast.unparse(node.func)}(…)"))
        if isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES and isinstance(node.ctx, ast.Load):
            found.append((INTERNALS, ast.unparse(node)))
    found += [(IMPORTS, f"import {imp.module}") for imp in imported
              if imp.level or imp.module.split(".")[0] not in ALLOWED_IMPORTS]
    return list(dict.fromkeys(found))


def monkeypatches(source: str) -> list[str]:
    """What :func:`code_findings` saw in ``source``, without the kinds."""
    return [what for _, what in code_findings(source)]


def _root(node) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""
