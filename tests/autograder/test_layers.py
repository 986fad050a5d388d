"""The grader's floors: every import of ``autograder/`` goes downward (read with ``ast``, no kernel).

base (the package root: workspace, cells, status, fileio, mistakes, contract, imports, kernelenv)
< kernel/ < execution/ < recording/ < outputs/ < the commands (pipeline, bundle, demo, cli, the
package itself); preprocessors/ import the base only.  Imports inside functions count as well,
and no two modules import each other, directly or round a longer circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "autograder"
BASE = {"workspace", "cells", "status", "fileio", "mistakes", "contract", "imports", "kernelenv"}
COMMANDS = {"pipeline", "bundle", "demo", "cli", "__init__"}
FLOORS = {"base": 0, "kernel": 1, "execution": 2, "recording": 3, "outputs": 4, "commands": 5}


def module_names() -> list[str]:
    """Every module of the package, dotted from its root (``execution.engine``, ``cells``)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def source_of(name: str) -> Path:
    path = PACKAGE.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def floor_of(name: str) -> str:
    """The floor a module lives on; a module the rules do not place is an error."""
    top = name.split(".")[0]
    if "." not in name:
        if top in BASE:
            return "base"
        if top in COMMANDS:
            return "commands"
        if top in FLOORS or top == "preprocessors":
            return top
        raise AssertionError(f"autograder/{top}.py is on no floor: add it to BASE or COMMANDS here and "
                             f"to docs/architecture.md")
    return top


def imports_of(name: str) -> set[str]:
    """The package's modules ``name`` imports, at module level or inside a function."""
    path = source_of(name)
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    if path.name == "__init__.py" and name == "__init__":
        here = []
    known = set(module_names())
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # `from . import engine` names a module, `from .x import f` a name
                sub = f"{target}.{alias.name}" if target else alias.name
                found.add(sub if sub in known else target)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for full in names:
                if full.startswith("gradlab_grader"):
                    found.add(full.removeprefix("gradlab_grader").lstrip(".") or "__init__")
    return {m for m in found if m and m != name}


def test_every_module_is_found_and_placed():
    names = module_names()
    assert {"cells", "execution.engine", "kernel.agent", "recording.ledger", "outputs.results", "cli"} <= set(names)
    for name in names:
        floor_of(name)


@pytest.mark.parametrize("name", module_names())
def test_imports_go_downward(name):
    mine = floor_of(name)
    for target in sorted(imports_of(name)):
        theirs = floor_of(target)
        if mine == "preprocessors":
            assert theirs in ("base", "preprocessors"), f"{name} (a preprocessor) imports {target} ({theirs})"
        elif theirs != "preprocessors":  # nbgrader's steps: anyone may name them
            assert FLOORS[theirs] <= FLOORS[mine], f"{name} ({mine}) imports {target}, a floor above ({theirs})"


def test_no_circles():
    graph = {name: imports_of(name) for name in module_names()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name, path):
        state[name] = 1
        for target in sorted(graph.get(name, ())):
            if state.get(target) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(target):] + [target]))
            if target not in state:
                visit(target, path + [target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_reader_sees_imports():
    """The scanner itself: a relative import inside a function, a module named by `from . import`."""
    assert "kernel.bubblewrap" in imports_of("execution.engine")   # lazy, inside a function
    assert "execution.engine" in imports_of("execution.pool")   # `from . import engine`
    assert "workspace" in imports_of("recording.ledger")        # `from ..workspace import ...`


def test_every_workspace_path_comes_from_the_workspace():
    """A folder or file of the workspace is named by ``Workspace`` (workspace.py), never joined
    onto its root elsewhere."""
    for name in module_names():
        if name == "workspace":
            continue
        for node in ast.walk(ast.parse(source_of(name).read_text())):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and \
                    ast.unparse(node.left).endswith(".root"):
                raise AssertionError(f"{name} line {node.lineno}: {ast.unparse(node)}: a path of Workspace")
