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
* a cell *reads* a name when it may load it from the namespace before binding it itself.  Its
  statements are read in the order they run, and a name one loads (or deletes, or augments:
  ``x += 1``) is read unless an earlier statement of the same block definitely bound it (an
  assignment, ``import``, ``def`` or ``class``; ``del`` unbinds).  A compound statement's blocks
  start from what was bound before it, plus what runs first there (a ``for`` target in its body,
  an ``except … as`` or ``with … as`` name, a ``case``'s captures); what it binds is never
  definite after it, nor is a ``:=``.  A class body and a list, set or dict comprehension run
  at once: the namespace's names they load are read there (a class body's own names first);
* a function, a lambda or a generator expression reads its global names whenever it runs: they
  are read *later* (so a cell binding such a name before a later cell that calls it may matter)
  and read now too unless definitely bound where it is defined (it may run at once, and after
  that the name holds this cell's value until another cell binds it);
* a cell that does not parse, uses IPython syntax (magics, ``!``), imports with ``*`` or looks
  names up by string (``globals()``, ``eval``, ``get_ipython`` …) binds and reads *everything*.

What the analysis cannot see is a cell's other effects (a seed set, an object changed in
place); a cell is only ever skipped when its source says so (:func:`skipped`), and a skipped
cell that changes something it did not bind is refused at release (:func:`effects_elsewhere`).
"""

from __future__ import annotations

import ast
import functools
import symtable
from dataclasses import dataclass

from ..imports import STAR, imports_in

# calls that reach the namespace by string: a cell making one may read or bind any name
DYNAMIC = {"globals", "locals", "vars", "eval", "exec", "get_ipython", "__import__", "compile"}


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


@functools.lru_cache(maxsize=4096)  # a class shares most cells' sources: each is read once per run
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
    reading = _Reading(tree)
    reading.block(tree.body, frozenset(), None, table)
    binds = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    binds |= _global_stores(table)
    if any(isinstance(s, ast.AnnAssign) and s.simple for s in ast.walk(tree)):
        binds.add("__annotations__")  # created by the first annotated name, read by every one
    return Names(frozenset(binds), frozenset(reading.reads), frozenset(reading.later))


def _global_stores(table: symtable.SymbolTable) -> set[str]:
    """The names scopes nested in ``table`` store in the namespace (declared ``global``, or bound
    with ``:=`` in a comprehension)."""
    found = set()
    for child in table.get_children():
        found |= {s.get_name() for s in child.get_symbols()
                  if s.is_declared_global() and (s.is_assigned() or s.is_imported())}
        found |= _global_stores(child)
    return found


Bound = frozenset[str]


class _Reading:
    """One walk over a cell's code in the order it runs: the names it reads now, and later.

    ``bound`` is what a load at the current place finds bound by the cell itself (the top level:
    the namespace; a class body: its own names too), ``namespace`` what a function, lambda or
    comprehension there finds (None: ``bound``)."""

    def __init__(self, tree: ast.Module):
        self.reads: set[str] = set()
        self.later: set[str] = set()
        # names augmented or deleted anywhere: a function declaring them global reads them
        self.altered = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Del)} | {
            n.target.id for n in ast.walk(tree) if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}

    def load(self, name: str, bound: Bound, local: Bound = frozenset(), deferred: bool = False) -> None:
        if name in local:
            return
        if deferred:
            self.later.add(name)
        if name not in bound:
            self.reads.add(name)

    def block(self, body: list[ast.stmt], bound: Bound, namespace: Bound | None,
              table: symtable.SymbolTable) -> None:
        """Statements that run one after another: each sees what the earlier ones definitely bound."""
        for statement in body:
            self.statement(statement, bound, namespace, table)
            bound = _after(statement, bound)

    def statement(self, node: ast.stmt, bound: Bound, namespace: Bound | None,
                  table: symtable.SymbolTable) -> None:
        """A compound statement's inner blocks start from what was bound before it, plus what
        runs first there (a ``for`` target, an ``except … as`` name, a ``case``'s captures)."""
        outer = bound if namespace is None else namespace

        def expr(*nodes):
            for n in nodes:
                if n is not None:
                    self.expr(n, bound, outer)

        def block(body, extra=frozenset()):
            self.block(body, bound | extra, None if namespace is None else namespace, table)

        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            expr(*node.decorator_list, node.args, node.returns)
            for scope in _scopes(table, node, "function"):
                self.function(scope, outer)
        elif isinstance(node, ast.ClassDef):
            expr(*node.decorator_list, *node.bases, *node.keywords)
            self.load("__name__", bound)  # a class body sets its __module__ from it
            for scope in _scopes(table, node, "class"):
                self.block(node.body, outer, outer, scope)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            expr(node.iter, node.target)
            block(node.body, _stored(node.target))
            block(node.orelse)
        elif isinstance(node, (ast.If, ast.While)):
            expr(node.test)
            block(node.body)
            block(node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            entered: Bound = frozenset()
            for item in node.items:
                self.expr(item.context_expr, bound | entered, outer)
                if item.optional_vars is not None:
                    self.expr(item.optional_vars, bound | entered, outer)
                    entered |= _stored(item.optional_vars)
            block(node.body, entered)
        elif isinstance(node, (ast.Try, ast.TryStar)):
            block(node.body)
            for handler in node.handlers:
                expr(handler.type)
                block(handler.body, frozenset([handler.name] if handler.name else []))
            block(node.orelse)
            block(node.finalbody)
        elif isinstance(node, ast.Match):
            expr(node.subject)
            for case in node.cases:
                captured = _captured(case.pattern)
                self.expr(case.pattern, bound, outer)
                if case.guard is not None:
                    self.expr(case.guard, bound | captured, outer)
                block(case.body, captured)
        else:
            expr(node)

    def function(self, scope: symtable.SymbolTable, namespace: Bound) -> None:
        """A function's body (its nested scopes too) reads its global names whenever it runs."""
        if scope.get_type() == "class":
            self.load("__name__", namespace, deferred=True)
        for symbol in scope.get_symbols():
            name = symbol.get_name()
            reads_it = symbol.is_referenced() or (symbol.is_declared_global() and name in self.altered)
            # a class body looks in its own names first, then in the namespace
            if reads_it and (symbol.is_global() or (scope.get_type() == "class" and not symbol.is_free())):
                self.load(name, namespace, deferred=True)
        for child in scope.get_children():
            self.function(child, namespace)

    def expr(self, node: ast.AST, bound: Bound, namespace: Bound, local: Bound = frozenset(),
             deferred: bool = False) -> None:
        """What an expression (or a simple statement) loads.  A lambda's body and a generator
        expression run later; a list, set or dict comprehension at once; both see the
        namespace, not a class body's names, and their own variables."""
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Load, ast.Del)):
                self.load(n.id, bound, local, deferred)
            elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
                self.load(n.target.id, bound, local, deferred)
            elif isinstance(n, ast.AnnAssign) and n.simple:
                self.load("__annotations__", bound, local, deferred)
            if isinstance(n, ast.Lambda):
                stack.append(n.args)
                given = n.args
                params = frozenset(a.arg for a in [*given.posonlyargs, *given.args, *given.kwonlyargs,
                                                   given.vararg, given.kwarg] if a is not None)
                self.expr(n.body, namespace, namespace, local | params, True)
            elif isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                first, *rest = n.generators
                stack.append(first.iter)
                own = local | {name for g in n.generators for name in _stored(g.target)}
                inner = [first.target, *first.ifs, *rest] + (
                    [n.key, n.value] if isinstance(n, ast.DictComp) else [n.elt])
                for part in inner:
                    self.expr(part, namespace, namespace, own, deferred or isinstance(n, ast.GeneratorExp))
            else:
                stack.extend(ast.iter_child_nodes(n))


def _scopes(table: symtable.SymbolTable, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
            kind: str) -> list[symtable.SymbolTable]:
    """The symbol table(s) of a ``def`` or ``class`` statement among ``table``'s scopes: by name
    and line (several alike: all of them; none found: every scope on that line)."""
    children = table.get_children()
    found = [c for c in children if c.get_type() == kind and c.get_name() == node.name
             and c.get_lineno() == node.lineno]
    return found or [c for c in children if c.get_lineno() == node.lineno] or children


def _captured(pattern: ast.pattern) -> Bound:
    """The names a ``case`` pattern binds when it matches (every alternative binds the same)."""
    found = set()
    for n in ast.walk(pattern):
        if isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            found.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            found.add(n.rest)
    return frozenset(found)


def _stored(target: ast.expr) -> Bound:
    """The plain names an assignment target binds (``a, (b, *c) = …``), not attributes or items."""
    return frozenset(n.id for n in _unpacked(target))


def _after(statement: ast.stmt, bound: Bound) -> Bound:
    """The names definitely bound once ``statement`` has run, given those ``bound`` before it: an
    assignment, import, ``def`` or ``class`` binds; ``del`` unbinds; what a compound statement or
    an expression (``:=``) binds is not definite."""
    if isinstance(statement, ast.Delete):
        return bound - {n.id for t in statement.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if isinstance(statement, ast.Assign):
        return bound.union(*(_stored(t) for t in statement.targets))
    if isinstance(statement, ast.AugAssign) or (isinstance(statement, ast.AnnAssign) and statement.value):
        return bound | _stored(statement.target)
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return bound | {(a.asname or a.name.split(".")[0]) for a in statement.names}
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return bound | {statement.name}
    return bound


def _unpacked(target: ast.expr) -> list[ast.Name]:
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
    sees: a later one that reads a name it binds (its functions' names are among its reads,
    unless it bound them before them), or an earlier one whose function may read such a name
    when a running cell after ``i`` calls it."""
    if not any(j > i for j in running):
        return []
    return sorted(j for j in running
                  if (j > i and cells[j].needs(cells[i])) or (j < i and cells[j].calls_may_need(cells[i])))


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
