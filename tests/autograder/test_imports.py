"""The one scanner of what notebooks import, and its three readers (no kernel)."""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gradlab_grader.execution.engine import preload_modules, trusted_imports
from gradlab_grader.imports import Import, imports_in, modules_loaded, notebook_imports
from gradlab_grader.recording.integrity import IMPORTS, code_findings

SETUP = "import numpy as np\nimport os.path\nimport numpy.linalg as la\nfrom gradlab import checks, calculus as ref"
ANSWER = ("def f(x):\n    import math\n    from collections import *\n    return x\n"
          "from . import sibling\nimport sqlite3")


def notebook():
    answer = new_code_cell(ANSWER, metadata={"nbgrader": {"solution": True, "grade_id": "f", "grade": False,
                                                            "locked": False, "schema_version": 3}})
    return new_notebook(cells=[new_markdown_cell("import nothing"), new_code_cell(SETUP), answer,
                               new_code_cell("if True:\n    import json\nimport numpy as np(")])


def test_each_statement_shape():
    assert imports_in(SETUP) == [
        Import("np", "numpy", "numpy", None), Import("os", "os", "os.path", None),
        Import("la", "numpy.linalg", "numpy.linalg", None),
        Import("checks", "gradlab", "gradlab", "checks"), Import("ref", "gradlab", "gradlab", "calculus")]
    nested = imports_in(ANSWER)
    assert [(i.bound, i.module, i.level, i.top_level) for i in nested] == [
        ("sibling", ".", 1, True), ("sqlite3", "sqlite3", 0, True),
        ("math", "math", 0, False), ("*", "collections", 0, False)]
    assert imports_in("import numpy as np(") == []  # does not parse: nothing


def test_loads_what_a_template_may_import():
    assert modules_loaded(imports_in(SETUP + "\nfrom numpy import *\nfrom .x import y")) == [
        "numpy", "os.path", "numpy.linalg", "gradlab", "gradlab.checks", "gradlab.calculus"]


def test_the_trusted_checker_imports_what_the_instructors_cells_import():
    got = trusted_imports(notebook(), None)
    assert {"numpy", "os.path", "numpy.linalg", "gradlab", "gradlab.checks", "gradlab.calculus"} <= set(got)
    assert not {"math", "collections", "sqlite3"} & set(got)   # the answer's own imports stay in the kernel


def test_the_template_preloads_every_installed_import(tmp_path):
    import nbformat

    nbformat.write(notebook(), tmp_path / "a.ipynb")
    loaded = preload_modules([tmp_path / "a.ipynb"])
    # the answer's nested imports count too; a relative import and a module of nowhere do not
    assert {"numpy", "numpy.linalg", "gradlab", "gradlab.checks", "gradlab.calculus", "math",
            "collections", "sqlite3"} <= set(loaded)
    assert not any(name.startswith((".", "sibling")) for name in loaded)
    assert len(notebook_imports(notebook())) == 9


def test_integrity_names_imports_no_answer_needs():
    found = [what for kind, what in code_findings(ANSWER) if kind == IMPORTS]
    assert found == ["import .", "import sqlite3"]
