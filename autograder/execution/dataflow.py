"""Which cells a score depends on: the names each code cell binds and reads, read with ``ast``
and the standard library's ``symtable`` (which resolves each name to its scope as Python does).

A notebook's cells share one namespace, so a later cell depends on an earlier one through the
names the earlier one binds.  Wherever the reading is not exact it errs on the side of "depends"
(a name counted as read or bound that may not be):

* a cell *binds* the names of the namespace it may store or delete: at top level (assignments,
  imports, ``def`` and ``class`` names, ``del``, names bound inside ``if``/``for``/``try``…), and
  the names a function, class body or comprehension declares ``global`` (or binds with ``:=``)
  and stores; a function's parameters and locals, a comprehension's or a class body's own
  names are not the namespace's;
* a cell *reads* a name when it may load it from the namespace before binding it itself: the
  top-level statements are read in order, and a name one loads (or deletes, or augments:
  ``x += 1``) is read unless an earlier unconditional top-level statement definitely bound it
  (an assignment, ``import``, ``def`` or ``class``; a ``:=``, or anything bound inside a compound
  statement, is never definite); a class body and a list, set or dict comprehension run at
  once, so the names of the namespace they load are read there;
* a function, a lambda or a generator expression reads its global names whenever it runs: they
  are read *later* (so a cell binding such a name anywhere before a later cell that calls it may
  matter) and read now too, unless definitely bound before its statement (it may run at once);
* a cell that does not parse, uses IPython syntax (magics, ``!``), imports with ``*`` or looks
  names up by string (``globals()``, ``eval``, ``get_ipython`` …) binds and reads *everything*.

What the analysis cannot see is a cell's other effects (a seed set, an object changed in
place); a cell is only ever skipped when its source says so (:func:`skipped`), and a skipped
cell that changes something it did not bind is refused at release (:func:`effects_elsewhere`).
"""

from __future__ import annotations

import ast
import symtable
from dataclasses import dataclass

from ..imports import STAR, imports_in

# calls that reach the namespace by string: a cell making one may read or bind any name
DYNAMIC = {"globals", "locals", "vars", "eval", "exec", "get_ipython", "__import__", "compile"}
# scopes whose code runs where they stand (a generator expression waits until it is consumed)
AT_ONCE = {"listcomp", "setcomp", "dictcomp"}
_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class Names:
    binds: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()
    later: frozenset[str] = frozenset()  # global names function bodies read: whenever they are called
    everything: bool = False  # binds and reads every name (see the module docstring)

    def needs(self, earlier: "Names") -> bool:
        """Whether this cell may read, as it runs, a name ``earlier`` binds."""
        return self.everything or earlier.everything or bool(self.reads & earlier.binds)

    def calls_may_need(self, other: "Names") -> bool:
        """Whether a function this cell defines may read, when called, a name ``other`` binds."""
        return self.everything or other.everything or bool(self.later & other.binds)


def names(source: str) -> Names:
    """The names a code cell binds and reads (see the module docstring)."""
    try:
        tree = ast.parse(source)
        table = symtable.symtable(source, "<cell>", "exec")
    except (SyntaxError, ValueError):  # IPython syntax, or broken code: anything is possible
        return Names(everything=True)
    if (any(isinstance(n, ast.Name) and n.id in DYNAMIC for n in ast.walk(tree))
            or any(imp.bound == STAR for imp in imports_in(source))):
        return Names(everything=True)
    altered = {n.target.id if isinstance(n, ast.AugAssign) else n.id for n in ast.walk(tree)
               if (isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name))
               or (isinstance(n, ast.Name) and isinstance(n.ctx, ast.Del))}
    statements = tree.body
    now: list[set[str]] = [_loads(s) for s in statements]
    deferred: list[set[str]] = [set() for _ in statements]
    binds = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    for child in table.get_children():
        k = _statement_at(statements, child.get_lineno())
        binds |= _scope(child, altered, now[k], deferred[k], at_once=True)
    if any(isinstance(s, ast.AnnAssign) and s.simple for s in statements):
        binds.add("__annotations__")  # created by the first annotated name, read by every one
    reads: set[str] = set()
    bound: set[str] = set()  # definitely bound by the statements so far
    for statement, loaded, called in zip(statements, now, deferred):
        reads |= (loaded | called) - bound
        bound = _after(statement, bound)
    later = set().union(*deferred)
    return Names(frozenset(binds), frozenset(reads), frozenset(later))


def _statement_at(statements: list[ast.stmt], line: int) -> int:
    """The first top-level statement spanning ``line`` (the earliest of several on one line: the
    one after the fewest definite bindings)."""
    for k, s in enumerate(statements):
        first = min([s.lineno] + [d.lineno for d in getattr(s, "decorator_list", [])])
        if first <= line <= (s.end_lineno or s.lineno):
            return k
    return 0


def _scope(table: symtable.SymbolTable, altered: set[str], now: set[str], later: set[str],
           at_once: bool) -> set[str]:
    """Add the namespace names ``table`` (a scope nested in the cell) and its own nested scopes
    load to ``now`` (code that runs at once) or ``later``; return the namespace names they bind."""
    kind = "class" if table.get_type() == "class" else (
        "at once" if table.get_name() in AT_ONCE and ".0" in table.get_identifiers() else "later")
    at_once = at_once and kind != "later"
    binds = set()
    for symbol in table.get_symbols():
        name = symbol.get_name()
        if symbol.is_declared_global() and (symbol.is_assigned() or symbol.is_imported()):
            binds.add(name)
        if kind == "class" and at_once:
            continue  # a class body that runs at once is read in order with the statements (_loads)
        reads_it = (symbol.is_referenced() or (symbol.is_declared_global() and name in altered))
        if reads_it and (symbol.is_global() or (kind == "class" and not symbol.is_free())):
            (now if at_once else later).add(name)  # a class body looks in its own names first
    for child in table.get_children():
        binds |= _scope(child, altered, now, later, at_once)
    return binds


def _loads(node: ast.AST) -> set[str]:
    """The names the code of ``node`` loads (or deletes, or augments) where it stands: at top
    level or in a class body.  The bodies of functions, lambdas and comprehensions are their own
    scopes (:func:`_scope`); their decorators, defaults, annotations and first iterable run here."""
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Load, ast.Del)):
            found.add(n.id)
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            found.add(n.target.id)
        elif isinstance(n, ast.AnnAssign) and n.simple:
            found.add("__annotations__")
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack += [*n.decorator_list, n.args] + ([n.returns] if n.returns else [])
        elif isinstance(n, ast.Lambda):
            stack.append(n.args)
        elif isinstance(n, ast.ClassDef):
            stack += [*n.decorator_list, *n.bases, *n.keywords]
            found |= _class_body(n.body) | {"__name__"}  # the class's __module__
        elif isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            stack.append(n.generators[0].iter)
        else:
            stack.extend(ast.iter_child_nodes(n))
    return found


def _class_body(body: list[ast.stmt]) -> set[str]:
    """What a class body loads before binding it in the class's own names, read in order."""
    found: set[str] = set()
    bound: set[str] = set()
    for statement in body:
        found |= _loads(statement) - bound
        bound = _after(statement, bound)
    return found


def _after(statement: ast.stmt, bound: set[str]) -> set[str]:
    """The names definitely bound once ``statement`` has run, given those ``bound`` before it: an
    unconditional assignment, import, ``def`` or ``class`` binds; ``del`` unbinds; whatever a
    compound statement or an expression (``:=``) binds is not definite."""
    if isinstance(statement, ast.Delete):
        return bound - {n.id for t in statement.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AugAssign) or (isinstance(statement, ast.AnnAssign) and statement.value):
        targets = [statement.target]
    new = {n.id for t in targets for n in _unpacked(t)}
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        new = {(a.asname or a.name.split(".")[0]) for a in statement.names}
    elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        new = {statement.name}
    return bound | new


def _unpacked(target: ast.expr) -> list[ast.Name]:
    """The plain names an assignment target binds (``a, (b, *c) = …``), not attributes or items."""
    if isinstance(target, ast.Name):
        return [target]
    if isinstance(target, ast.Starred):
        return _unpacked(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _unpacked(t)]
    return []


def effects_elsewhere(source: str) -> list[str]:
    """Assignments in ``source`` (outside functions) to an attribute or item of something the
    cell did not bind itself (``Value.__add__ = …``, ``plt.rcParams[k] = …``): changes a later
    cell would see even though the cell binds no name it reads."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ["the cell does not parse"]
    own = names(source).binds
    found: list[str] = []
    for node in _outside_functions(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, (ast.Attribute, ast.Subscript)):
                    root: ast.expr = part
                    while isinstance(root, (ast.Attribute, ast.Subscript)):
                        root = root.value
                    if not (isinstance(root, ast.Name) and root.id in own):
                        found.append(ast.unparse(part))
    return list(dict.fromkeys(found))


def _outside_functions(tree):
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node)
                     if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))


def users(cells: list[Names], i: int, running: set[int]) -> list[int]:
    """The cells among ``running`` through which cell ``i`` may change what a running cell
    sees: a later one that reads a name it binds, or one whose function may read such a name
    when a running cell after ``i`` calls it."""
    if not any(j > i for j in running):
        return []
    return sorted(j for j in running if (j > i and cells[j].needs(cells[i])) or cells[j].calls_may_need(cells[i]))


def depended_on(cells: list[Names], scored: set[int], skipped: set[int] | frozenset[int] = frozenset()) -> set[int]:
    """Positions (into ``cells``, in notebook order) of the cells a score depends on: the
    ``scored`` cells themselves (tests and answers) and every cell that may change what one of
    them sees, transitively.  ``skipped`` cells never run, so none is depended on."""
    needed = set(scored)
    changed = True
    while changed:
        grown = {i for i in range(len(cells)) if i not in needed and i not in skipped
                 and users(cells, i, needed)}
        needed |= grown
        changed = bool(grown)
    return needed


def skipped(cells: list[Names], candidates: set[int]) -> set[int]:
    """Which of the ``candidates`` (cells their source marks as skippable while grading) may be
    skipped: those that change nothing any cell that runs may see.  A candidate some running
    cell needs runs, and so may the candidates it needs in turn."""
    skip = set(candidates)
    changed = True
    while changed:
        running = set(range(len(cells))) - skip
        needed = {i for i in skip if users(cells, i, running)}
        skip -= needed
        changed = bool(needed)
    return skip
