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
  or ``warnings`` are no finding): the workspace could be read;
* answer code that reaches gradlab's reference (:func:`reference_routes`): an import of gradlab,
  a gradlab module or one of the exercise's own functions reached through a name a locked cell
  bound (``ref.relu``, an alias ``r = ref``, ``checks.diagnosis``, ``getattr(ref, name)``,
  ``globals()['ref']``, ``sys.modules[…]``, ``importlib.import_module('gradlab…')``).  The tests
  decide in the grader's own process and call only the student's functions in the kernel, so
  an answer that calls the reference passes them; this flag and the similarity check find it.
"""

from __future__ import annotations

import ast
import functools
import importlib
from types import ModuleType

from ..cells import cells_by_id, execution_tags, foreign_cells, grade_id, is_answer, is_test, nbgrader_meta
from ..contract import ALLOWED_IMPORTS
from ..imports import STAR, imports_in


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
    bound, exercises = gradlab_bindings(given.values()), exercise_names(given.values())
    for gid in answers:
        for kind, what in code_findings(handed_in[gid].source if gid in handed_in else "", bound, exercises):
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
REFERENCE = "reaches gradlab's reference library"
CALLS = {"setattr": REWRITES, "delattr": REWRITES, "setprofile": TRACING, "settrace": TRACING,
         "exec": DYNAMIC, "eval": DYNAMIC, "compile": DYNAMIC, "__import__": DYNAMIC,
         "vars": INTERNALS, "globals": INTERNALS, "open": FILES}
INTERNAL_ATTRIBUTES = {"__code__", "__dict__", "__globals__", "__builtins__", "__subclasses__", "__closure__",
                       "_getframe", "f_back", "f_locals", "f_globals", "gi_frame", "cr_frame", "tb_frame"}


def code_findings(source: str, bound: dict[str, str] | None = None,
                  exercises: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(kind, what was seen) for each place in ``source`` worth a human look: an attribute of
    an imported module assigned (or ``sys.modules[…]``), tracing switched, code built at run time,
    the interpreter's internals (frames, ``__code__``, ``__globals__``), files read, an import no
    answer needs, a route to gradlab's reference (:func:`reference_routes`; ``bound``: the names
    the locked cells bound to gradlab, ``exercises``: the names the answers define).  Code that
    does not parse yields nothing (it fails on its own when it runs)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = [(REFERENCE, what) for what in reference_routes(source, tree, bound or {}, exercises)]
    imported = imports_in(source)
    modules = {imp.bound for imp in imported}
    modules |= {"np", "numpy", "gradlab", "checks", "ref", "sys", "builtins", "__builtins__"}
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


def gradlab_bindings(cells) -> dict[str, str]:
    """name -> the gradlab module or ``module.attribute`` it means, for each name the code cells
    among ``cells`` that are not answers bind by importing from gradlab (``from gradlab import
    activations as ref`` -> ``{"ref": "gradlab.activations"}``)."""
    bound: dict[str, str] = {}
    for cell in cells:
        if cell.get("cell_type") == "code" and not is_answer(cell):
            bound.update(_gradlab_imports(cell.get("source", "")))
    return bound


def exercise_names(cells) -> frozenset[str]:
    """The functions and classes the answer cells among ``cells`` define (what the student writes)."""
    names = set()
    for cell in cells:
        if cell.get("cell_type") == "code" and is_answer(cell):
            try:
                tree = ast.parse(cell.get("source", ""))
            except SyntaxError:
                continue
            names |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return frozenset(names)


def _gradlab_imports(source: str) -> dict[str, str]:
    """name -> the gradlab module or ``module.attribute`` each import of gradlab in ``source`` binds."""
    return {imp.bound: imp.target if imp.attribute is None else f"{imp.target}.{imp.attribute}"
            for imp in imports_in(source) if not imp.level and _is_gradlab(imp.module) and imp.attribute != STAR}


def _spelled(imp) -> str:
    """An import as written: ``import gradlab.checks as c``, ``from gradlab import layers``."""
    plain = imp.module.split(".")[0] if imp.attribute is None else imp.attribute
    alias = f" as {imp.bound}" if imp.bound != plain else ""
    what = f"import {imp.module}" if imp.attribute is None else f"from {imp.module} import {imp.attribute}"
    return what + alias


def _is_gradlab(path: str) -> bool:
    return path.split(".")[0] == "gradlab"


def _const(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def reference_routes(source: str, tree, bound: dict[str, str], exercises: frozenset[str] = frozenset()) -> list[str]:
    """What in the answer ``tree`` reaches gradlab's reference, as written: an import of gradlab;
    through a name ``bound`` to gradlab (or an alias of one, ``r = ref``), an attribute chain,
    ``getattr`` with a constant, ``globals()['ref']``, ``sys.modules['gradlab…']``,
    ``importlib.import_module('gradlab…')`` or ``__import__('gradlab…')`` that reaches one of
    the ``exercises``' own names or another gradlab module (``checks.diagnosis``); a module
    that defines an exercise passed on whole (``helper(ref)``); and the routes no reading can
    follow: ``getattr`` of such a name with a built string, ``sys.modules`` read."""
    found = [_spelled(imp) for imp in imports_in(source) if not imp.level and _is_gradlab(imp.module)]
    bound = dict(bound) | _gradlab_imports(source)
    for _ in range(3):  # aliases of aliases: r = ref; s = r
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and (path := _path(node.value, bound)):
                bound.update({t.id: path for t in node.targets if isinstance(t, ast.Name)})
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        path = _path(node, bound)
        if path is not None:
            base = bound.get(node.id) if isinstance(node, ast.Name) else None
            if _reaches(path, base, exercises) or (base is not None and _passed_on(node, parents)
                                                   and _defines_exercise(path, exercises)):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "getattr" and node.args \
                and _path(node.args[0], bound) and (len(node.args) < 2 or _const(node.args[1]) is None):
            found.append(f"getattr({ast.unparse(node.args[0])}, …)")
        elif isinstance(node, ast.Attribute) and ast.unparse(node) == "sys.modules" \
                and not isinstance(parents.get(id(node)), ast.Subscript):
            found.append("sys.modules")
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "sys.modules" \
                and _const(node.slice) is None and isinstance(node.ctx, ast.Load):
            found.append("sys.modules[…]")
    return list(dict.fromkeys(found))


def _path(node, bound: dict[str, str]) -> str | None:
    """The gradlab object ``node`` statically means (a dotted path), or None."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _path(node.value, bound)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Subscript) and (key := _const(node.slice)) is not None:
        holder = ast.unparse(node.value)
        if holder in ("globals()", "vars()", "locals()"):
            return bound.get(key)
        if holder == "sys.modules" and _is_gradlab(key):
            return key
    if isinstance(node, ast.Call) and node.args:
        func, first = ast.unparse(node.func), node.args[0]
        if func == "getattr" and len(node.args) >= 2 and (attr := _const(node.args[1])) is not None:
            base = _path(first, bound)
            return f"{base}.{attr}" if base else None
        if func in ("importlib.import_module", "import_module") and _is_gradlab(_const(first) or ""):
            return _const(first)
        if func == "__import__" and _is_gradlab(_const(first) or ""):
            return "gradlab"  # __import__('gradlab.layers') returns the top package
        if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and \
                ast.unparse(node.func.value) in ("globals()", "vars()", "locals()") and (key := _const(first)):
            return bound.get(key)
    return None


def _reaches(path: str, base: str | None, exercises: frozenset[str]) -> bool:
    """Whether ``path`` (reached from a bound name, ``base`` when it is that name itself) is an
    exercise's own function or class, or a gradlab module reached through another's attributes."""
    target = _resolve(path)
    if target is _MISSING:
        return False
    if getattr(target, "__name__", None) in exercises and not isinstance(target, ModuleType):
        return True
    # a module spelled as an import names it (gradlab.layers) is not one reached through another
    # module's attributes (gradlab.checks.diagnosis)
    return isinstance(target, ModuleType) and base is None and _is_gradlab(target.__name__) \
        and target.__name__ != path


def _defines_exercise(path: str, exercises: frozenset[str]) -> bool:
    target = _resolve(path)
    return isinstance(target, ModuleType) and any(hasattr(target, name) for name in exercises)


def _passed_on(node, parents) -> bool:
    """A name used whole (an argument, a value stored), not as the start of an attribute chain."""
    parent = parents.get(id(node))
    return not (isinstance(parent, ast.Attribute) and parent.value is node) and not (
        isinstance(parent, ast.Call) and ast.unparse(parent.func) == "getattr" and parent.args[:1] == [node])


class _Missing:
    pass


_MISSING = _Missing()


@functools.lru_cache(maxsize=512)
def _resolve(path: str):
    """The gradlab object at ``path`` (a module, then attributes), imported in the grader (the
    instructor's library, never the student's code), or _MISSING."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except Exception:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                break
        return obj
    return _MISSING


def _root(node) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""
