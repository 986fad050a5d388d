"""The untouched release runs to the end, and what the notebooks print is plain text.

A student's first Run All is on ``course/<a>`` exactly as released, every exercise still raising
``NotImplementedError``.  Only test cells may fail then (the release tags them
``raises-exception``, so Run All goes on past them): every other cell — the lecture's worked
examples and figures — must run, a figure that needs an unfinished exercise saying so and drawing
what it can.  Printed output is plain text: LaTeX (``$\\lambda$``) belongs in Markdown and in
figure labels, where it is rendered, not in ``print``.
"""

from __future__ import annotations

import ast
import re

import nbformat
import pytest
from nbclient import NotebookClient

from gradlab_grader.cells import grade_id, nbgrader_meta

from conftest import REPO

COURSE = sorted((REPO / "course").glob("*/*.ipynb"))
SOURCES = sorted((REPO / "solutions").glob("*/*.ipynb"))
# math mode with a command, sub- or superscript: `$\lambda = 1$`, `$x_1$`, `$2/\lambda_{max}$`
LATEX = re.compile(r"\$[^$\n]*[\\^_{}][^$\n]*\$")


def _is_test(cell) -> bool:
    return bool(nbgrader_meta(cell).get("grade"))


def printed_latex(nb) -> list[str]:
    """Lines of the notebook's printed output (stdout, stderr, plain-text results) with LaTeX."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                text = out.text
            elif out.output_type in ("execute_result", "display_data") and set(out.data) == {"text/plain"}:
                text = out.data["text/plain"]
            else:
                continue
            found += [f"{grade_id(cell)}: {line}" for line in text.splitlines() if LATEX.search(line)]
    return found


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.parent.name)
def test_the_untouched_release_runs_every_lecture_cell(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    stopped = [f"{grade_id(c)}: {o.ename}: {o.evalue}" for c in nb.cells if c.cell_type == "code"
               and not _is_test(c) for o in c.outputs if o.output_type == "error"]
    assert not stopped, f"Run All stops at lecture cells of the untouched {path.name}: {stopped}"
    failing_tests = [c for c in nb.cells if _is_test(c) and any(o.output_type == "error" for o in c.outputs)]
    assert failing_tests, "the untouched release fails its tests (the check above ran real cells)"
    assert not printed_latex(nb), f"printed LaTeX in {path.name}: {printed_latex(nb)}"


def _strings(node):
    """The string literals under ``node``; an f-string as one text, "·" for each field."""
    if isinstance(node, ast.JoinedStr):
        yield "".join(v.value if isinstance(v, ast.Constant) else "·" for v in node.values)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    else:
        for child in ast.iter_child_nodes(node):
            yield from _strings(child)


def _printed_strings(source: str):
    """Every string literal inside a ``print(...)`` call of a cell."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
            yield from _strings(node)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_no_print_writes_latex(path):
    """The prints of every cell (solutions and hidden tests included, which the run above does not
    reach) write no LaTeX literally."""
    nb = nbformat.read(path, as_version=4)
    found = [f"{grade_id(c)}: {text!r}" for c in nb.cells if c.cell_type == "code"
             for text in _printed_strings(c.source) if LATEX.search(text)]
    assert not found, found


def test_the_latex_check_sees_printed_latex():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(metadata={"nbgrader": {"grade_id": "c"}}, outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="bowl, $\\lambda = 1, 10$: eigenvalues\n"),
        nbformat.v4.new_output("stream", name="stdout", text="costs $5 and $6\n")])])
    assert printed_latex(nb) == ["c: bowl, $\\lambda = 1, 10$: eigenvalues"]
    assert list(_printed_strings('%matplotlib inline\nprint(f"$x_{i}$ = {x}", "plain")')) == ["$x_·$ = ·", "plain"]
