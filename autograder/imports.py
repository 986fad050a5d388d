"""What a notebook's code imports, read with ``ast`` (never executed): the one scanner.

Its readers differ only in which cells and which statements they ask about:

* the kernel template preloads what the assignment's notebooks import, anywhere in a cell
  (``execution.engine.preload_modules``: :attr:`Import.loads`);
* the trusted checker imports what the instructor's cells import (``execution.engine.trusted_imports``:
  :attr:`Import.loads`);
* integrity follows the names an import of gradlab binds to the reference
  (``recording.integrity.reference_routes``: :attr:`Import.bound`, :attr:`Import.target`,
  :attr:`Import.attribute`);
* the integrity check names what an answer imports beyond what answers need
  (``recording.integrity.code_findings``: :attr:`Import.module`);
* the grading plan reads a cell that imports with ``*`` as binding every name
  (``execution.dataflow.names``: :attr:`Import.bound` is :data:`STAR`).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

STAR = "*"


@dataclass(frozen=True)
class Import:
    """One name an import statement binds.

    ``import numpy as np``      -> bound "np",     target "numpy",    module "numpy",   attribute None
    ``import os.path``          -> bound "os",     target "os",       module "os.path", attribute None
    ``from gradlab import checks`` -> bound "checks", target "gradlab", module "gradlab", attribute "checks"
    ``from . import x`` (relative) -> module ".", level 1; ``from m import *`` -> bound and attribute "*"
    """

    bound: str                 # the name the statement binds in the namespace
    target: str                # the module that name means (or that ``attribute`` is taken from)
    module: str                # the module the statement names (relative: dots first)
    attribute: str | None      # ``from module import attribute``; None for ``import module``
    level: int = 0             # dots of a relative import
    top_level: bool = True     # a statement of the cell itself, not inside a def, class, if, try…

    @property
    def loads(self) -> tuple[str, ...]:
        """The absolute modules the statement may load: ``import a.b`` -> ``a.b``; ``from a import
        b`` -> ``a`` and ``a.b`` (b may be a module); nothing for a relative import."""
        if self.level:
            return ()
        if self.attribute is None or self.attribute == STAR:
            return (self.module,)
        return (self.module, f"{self.module}.{self.attribute}")


def imports_in(source: str) -> list[Import]:
    """Every import of ``source`` (a cell's code), in order; code that does not parse has none."""
    return list(_imports_in(source))


@functools.lru_cache(maxsize=4096)  # a class shares most cells' sources: each is read once per run
def _imports_in(source: str) -> tuple[Import, ...]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ()
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    found.append(Import(a.asname, a.name, a.name, None, top_level=id(node) in top))
                else:
                    first = a.name.split(".")[0]
                    found.append(Import(first, first, a.name, None, top_level=id(node) in top))
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for a in node.names:
                found.append(Import(a.asname or a.name, module, module, a.name, node.level, id(node) in top))
    return tuple(found)  # ast.walk is breadth first: the cell's own statements in order, then nested ones


def notebook_imports(nb, cells: Callable = lambda cell: True, top_level: bool = False) -> list[Import]:
    """The imports of the code cells of ``nb`` that ``cells(cell)`` accepts; with ``top_level``
    only the statements of the cells themselves (what is bound whenever the cell has run)."""
    return [imp for cell in nb.cells if cell.cell_type == "code" and cells(cell)
            for imp in imports_in(cell.source) if imp.top_level or not top_level]


def modules_loaded(imports: Iterable[Import]) -> list[str]:
    """The absolute modules ``imports`` may load, each once, in order."""
    return list(dict.fromkeys(name for imp in imports for name in imp.loads))
