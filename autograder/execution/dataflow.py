"""Which cells a score depends on: the names each code cell binds and reads, read with ``ast``.

A notebook's cells share one namespace, so a later cell depends on an earlier one through the
names the earlier one binds.  The analysis is deliberately coarse, and every coarseness errs
on the side of "depends":

* a cell *reads* every name it loads anywhere, every name it deletes or augments (``x += 1``);
  what it loads inside a function body it also reads *later*: whenever the function is called,
  so a cell binding such a name anywhere before a later cell that runs may matter;
* a cell *binds* every name it stores anywhere (function arguments and locals included), every
  function, class and import name, and every name it declares ``global``;
* a cell that does not parse, uses IPython syntax (magics, ``!``), imports with ``*`` or looks
  names up by string (``globals()``, ``eval``, ``get_ipython`` …) binds and reads *everything*.

What the analysis cannot see is a cell's other effects (a seed set, an object changed in
place); a cell is only ever skipped when its source says so (:func:`skipped`), and a skipped
cell that changes something it did not bind is refused at release (:func:`effects_elsewhere`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..imports import STAR, imports_in

# calls that reach the namespace by string: a cell making one may read or bind any name
DYNAMIC = {"globals", "locals", "vars", "eval", "exec", "get_ipython", "__import__", "compile"}


@dataclass(frozen=True)
class Names:
    binds: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()
    later: frozenset[str] = frozenset()  # read inside function bodies: whenever they are called
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
    except SyntaxError:  # IPython syntax, or broken code: anything is possible
        return Names(everything=True)
    binds: set[str] = set()
    reads: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (reads if isinstance(node.ctx, (ast.Load, ast.Del)) else binds).add(node.id)
            if isinstance(node.ctx, ast.Del):
                binds.add(node.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            reads.add(node.target.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.add(node.name)
        elif isinstance(node, ast.arg):
            binds.add(node.arg)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            binds.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            binds.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            binds.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            binds.add(node.rest)
    imported = {imp.bound for imp in imports_in(source)}
    if reads & DYNAMIC or STAR in imported:
        return Names(everything=True)
    binds |= imported
    later = {node.id for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
             for part in (fn.body if isinstance(fn.body, list) else [fn.body]) for node in ast.walk(part)
             if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return Names(frozenset(binds), frozenset(reads), frozenset(later))


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
