"""Which cells grading may skip, and which a score depends on: never a cell a test needs.

The oracle is execution: a random notebook of plain Python cells is run twice in an ordinary
namespace, once whole and once without the cells the analysis skips, and every test cell must
see exactly the same values (and no NameError) both times.
"""

from __future__ import annotations

import dis
import inspect
import random
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gradlab_grader.cells import drop_foreign_cells, foreign_cells
from gradlab_grader.execution import dataflow, engine


@pytest.mark.parametrize("source, binds, reads, later", [
    ("x = y + 1", {"x"}, {"y"}, set()),
    ("import numpy as np\nfrom gradlab import checks", {"np", "checks"}, set(), set()),
    ("total += step", {"total"}, {"total", "step"}, set()),
    ("for i, v in enumerate(xs):\n    pass", {"i", "v"}, {"enumerate", "xs"}, set()),
    ("del old", {"old"}, {"old"}, set()),
    ("obj.attr = value", set(), {"obj", "value"}, set()),
    # a function's parameters and locals are its own; its global names are read (when called)
    ("def f(a, b=2):\n    c = a + b\n    return c * scale", {"f"}, {"scale"}, {"scale"}),
    # bound, then used: not read; bound from itself: read
    ("x = 1\ny = x * 2", {"x", "y"}, set(), set()),
    ("x = x + 1", {"x"}, {"x"}, set()),
    ("x = 1\ndel x\nprint(x)", {"x"}, {"print", "x"}, set()),
    # used inside an `if` before it is bound: read; bound before the `if`: not read
    ("if flag:\n    print(x)\nx = 1", {"x"}, {"flag", "print", "x"}, set()),
    ("x = 0\nif flag:\n    x = 1\nprint(x)", {"x"}, {"flag", "print"}, set()),
    # a lambda reads its names whenever it runs: bound later in the cell is read, earlier is not
    ("f = lambda: k\nk = 1", {"f", "k"}, {"k"}, {"k"}),
    ("k = 1\nf = lambda u: u + k", {"f", "k"}, set(), {"k"}),
    ("f = lambda u, *more, g=(lambda y: y), **kw: u + y + g(more, kw)", {"f"}, {"y"}, {"y"}),
    # comprehensions run at once, their variables are theirs; a generator expression waits
    ("squares = [v * v for v in values]", {"squares"}, {"values"}, set()),
    ("[v for v in w]\nprint(v)", set(), {"w", "print", "v"}, set()),
    ("n = 2\npairs = {v: v ** n for v in vs}", {"n", "pairs"}, {"vs"}, set()),
    ("g = (v * scale for v in vs)", {"g"}, {"vs", "scale"}, {"scale"}),
    # `global` in a function binds the namespace's name; augmenting it reads it
    ("def reset():\n    global count\n    count = 0", {"reset", "count"}, set(), set()),
    ("def bump():\n    global count\n    count += 1", {"bump", "count"}, {"count"}, {"count"}),
    # a class body's names are the class's; what it loads before binding it is read (and
    # __name__, its __module__)
    ("class Net(Base):\n    size = default\n    doubled = size * 2", {"Net"}, {"Base", "default", "__name__"},
     set()),
    ("class Net:\n    size = 3\n    def f(self):\n        return size", {"Net"}, {"size", "__name__"}, {"size"}),
    ("class Net:\n    k = 2\n    ks = [k * v for v in range(3)]", {"Net"}, {"range", "k", "__name__"}, set()),
    # nested functions: `nonlocal` names are the enclosing function's
    ("def outer():\n    total = 0\n    def add(v):\n        nonlocal total\n        total += v\n"
     "        return total + offset\n    return add", {"outer"}, {"offset"}, {"offset"}),
    # `:=` binds the namespace's name (from a comprehension too) but never definitely
    ("if (n := len(xs)) > 2:\n    pass\nprint(n)", {"n"}, {"len", "xs", "print", "n"}, set()),
    ("last = [y := v for v in vs]\nprint(y)", {"last", "y"}, {"vs", "print", "y"}, set()),
    # inside a compound statement: what runs first there is bound (a `for` target, a `case`'s
    # captures, an `except … as` or `with … as` name), then its statements in order
    ("match point:\n    case (px, py):\n        r = px\n    case _:\n        r = 0\nprint(r)",
     {"px", "py", "r"}, {"point", "print", "r"}, set()),
    ("try:\n    value = compute()\nexcept ValueError as err:\n    print(err)\n    value = None\nprint(value)",
     {"value", "err"}, {"compute", "ValueError", "print", "value"}, set()),
    ("for x, h in pairs:\n    y = x + h\n    print(y)\nelse:\n    print(x)", {"x", "h", "y"}, {"pairs", "print", "x"},
     set()),
    ("while go:\n    n = 1\n    print(n)", {"n"}, {"go", "print"}, set()),
    ("with open(path) as fh:\n    text = fh.read()\nprint(fh, text)", {"fh", "text"},
     {"open", "path", "print", "fh", "text"}, set()),
    ("for eta in etas:\n    runs.append(lambda: eta)\n    out = [v * eta for v in vs]", {"eta", "out"},
     {"etas", "runs", "vs"}, {"eta"}),
    # bound in every branch is still not definite: read (erring towards "depends")
    ("if flag:\n    x = 1\nelse:\n    x = 2\nprint(x)", {"x"}, {"flag", "print", "x"}, set()),
    ("for i in range(3):\n    pass\nprint(i)", {"i"}, {"range", "print", "i"}, set()),
    ("@wrap(k)\ndef f(a=d):\n    return a", {"f"}, {"wrap", "k", "d"}, set()),
])
def test_names_a_cell_binds_and_reads(source, binds, reads, later):
    found = dataflow.names(source)
    assert not found.everything
    assert (found.binds, found.reads, found.later) == (binds, reads, later)


@pytest.mark.parametrize("source", ["%matplotlib widget", "x = (", "from numpy import *",
                                    "globals()['x'] = 1", "y = eval('x')", "get_ipython().user_ns['x']",
                                    "def f():\n    return vars()", "nonlocal x"])
def test_what_cannot_be_read_statically_binds_and_reads_everything(source):
    assert dataflow.names(source).everything


# -- the reading against execution: what a cell really looks up ------------------------------

class _Earlier(int):
    """A value an earlier cell bound: a distinct object for each name, so a lookup can tell it apart."""


class _Recording(dict):
    """A namespace that records each name looked up (or deleted) in it while it still held what
    earlier cells left there (its ``_Earlier`` value, or nothing): module-level code and function
    bodies (whose globals it is) look names up through ``__getitem__`` when the namespace is not
    a plain dict, while stores to a name declared global bypass ``__setitem__``."""

    def __init__(self, names):
        self.earlier = {n: _Earlier(1) for n in names}
        super().__init__(self.earlier)
        self.own: set[str] = set()  # stored at module level by the running cell
        self.looked_up: set[str] = set()
        self.every_lookup = False

    def _earlier(self, name) -> bool:
        return self.every_lookup or (name not in self.own and self.get(name) is self.earlier.get(name))

    def __getitem__(self, name):
        if self._earlier(name):
            self.looked_up.add(name)
        return super().__getitem__(name)

    def __setitem__(self, name, value):
        self.own.add(name)
        super().__setitem__(name, value)

    def __delitem__(self, name):
        if self._earlier(name):
            self.looked_up.add(name)
        self.own.discard(name)
        super().__delitem__(name)


POOL = ["a", "b", "c", "d"]


def _random_cell(rng: random.Random) -> str:
    """A cell of plain Python over a few shared names: statements, branches, loops, functions
    (parameters, locals, ``global``, ``nonlocal``), lambdas, comprehensions, ``:=``, ``match``,
    classes and calls, nested at random."""
    lambdas: list[str] = []
    functions: list[str] = []

    def name() -> str:
        return rng.choice(POOL)

    def expr(depth: int = 0) -> str:
        kind = rng.random() if depth < 2 else 0.0
        if kind < 0.35:
            return name()
        if kind < 0.45:
            return str(rng.randint(0, 3))
        if kind < 0.6:
            return f"({expr(depth + 1)} + {expr(depth + 1)})"
        if kind < 0.7:
            return f"({expr(depth + 1)} if {expr(depth + 1)} else {expr(depth + 1)})"
        if kind < 0.8:
            return f"len([{expr(depth + 1)} for {name()} in range(2)])"
        if kind < 0.87:
            return f"({name()} := {expr(depth + 1)})"
        if kind < 0.93 and lambdas:
            return f"{rng.choice(lambdas)}()"
        if functions:
            return f"{rng.choice(functions)}({expr(depth + 1)})"
        return name()

    def body(indent: str, depth: int, in_function: bool) -> list[str]:
        lines = []
        for _ in range(rng.randint(1, 3)):
            lines += [indent + line for line in statement(depth, in_function)]
        return lines

    def statement(depth: int, in_function: bool = False) -> list[str]:
        kind = rng.random() if depth < 2 else rng.random() * 0.45
        x = name()
        if kind < 0.25:
            return [f"{x} = {expr()}"]
        if kind < 0.33:
            return [f"{x} += {expr()}"]
        if kind < 0.36:
            return [f"del {x}"]
        if kind < 0.45:
            return [f"print({expr()})"]
        if kind < 0.53:
            return [f"if {expr()}:", *body("    ", depth + 1, in_function),
                    "else:", *body("    ", depth + 1, in_function)]
        if kind < 0.58:
            return [f"for {x} in range({rng.randint(0, 2)}):", *body("    ", depth + 1, in_function)]
        if kind < 0.63:
            return ["try:", *body("    ", depth + 1, in_function),
                    f"except Exception as {x}:", *body("    ", depth + 1, in_function)]
        if kind < 0.68:
            return [f"match {expr()}:", "    case 0 | 1:", *body("        ", depth + 1, in_function),
                    f"    case {x}:", *body("        ", depth + 1, in_function)]
        if kind < 0.85 and not in_function:
            fn = f"f{len(functions)}"
            declared = rng.sample(POOL, rng.randint(0, 2))
            lines = [f"def {fn}({x}, {name()}_=1):"] + [f"    global {g}" for g in declared]
            lines += body("    ", depth + 1, True)
            if rng.random() < 0.5:
                lines += ["    total = 0", "    def inner():", "        nonlocal total",
                          f"        total += {expr()}", "        return total", "    inner()"]
            lines.append(f"    return {expr()}")
            functions.append(fn)
            return lines
        if kind < 0.92 and not in_function:
            fn = f"g{len(lambdas)}"
            lambdas.append(fn)
            return [f"{fn} = lambda {name()}_=0: {expr()}"]
        if kind < 0.96 and not in_function:
            return [f"class K{rng.randint(0, 9)}:", *body("    ", depth + 1, False)]
        return [f"{x} = [{name()} := {expr()} for {name()} in range(2)]"]

    lines: list[str] = []
    for _ in range(rng.randint(1, 6)):
        lines += statement(0)
    return "\n".join(lines)


def _valid_cell(seed: int) -> str:
    """The first random cell of ``seed``'s stream that compiles (a random one may not: a ``global``
    after a use, ``:=`` on a comprehension's variable …)."""
    rng = random.Random(seed)
    while True:
        source = _random_cell(rng)
        try:
            compile(source, "<cell>", "exec")
            return source
        except SyntaxError:
            continue


def _run_recorded(source: str) -> tuple[_Recording, dict]:
    """Run ``source`` once in a namespace that already holds every shared name; what it looked
    up before binding it, and the namespace as it was before."""
    namespace = _Recording(POOL)
    before = dict(namespace)
    try:
        exec(compile(source, "<cell>", "exec"), namespace, namespace)
    except Exception:  # a random cell may fail half way: what it looked up until then counts
        pass
    return namespace, before


@pytest.mark.parametrize("seed", range(400))
def test_a_cell_reads_and_binds_at_least_what_it_does_when_it_runs(seed):
    source = _valid_cell(seed)
    found = dataflow.names(source)
    assert not found.everything
    namespace, before = _run_recorded(source)
    assert namespace.looked_up - {"__builtins__"} <= found.reads, source
    changed = {n for n in set(before) | set(namespace) if n != "__builtins__"
               and (n not in before or n not in namespace or namespace[n] is not before[n])}
    assert changed <= found.binds, source
    # and each function it leaves behind reads, when called, only what ``later`` names
    namespace.looked_up.clear()
    namespace.own.clear()
    namespace.every_lookup = True  # called from a later cell: whatever they look up is read then
    for value in list(namespace.values()):
        if isinstance(value, types.FunctionType) and value.__globals__ is namespace:
            try:
                value()
            except Exception:
                pass
    assert namespace.looked_up <= found.later, source


def _corpus() -> list[tuple[str, str]]:
    root = Path(__file__).resolve().parents[2] / "solutions"
    return [(f"{path.stem}[{i}]", cell.source) for path in sorted(root.glob("*/*.ipynb"))
            for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
            if cell.cell_type == "code" and cell.source.strip()]


def _namespace_names(code: types.CodeType, at_once: bool = True) -> tuple[set[str], set[str]]:
    """From the compiled code itself: the namespace names looked up or deleted as the cell runs,
    and those its functions, lambdas and generators look up when they run (class bodies' own
    names, which live in the class's namespace, left out)."""
    now: set[str] = set()
    later: set[str] = set()
    looks = {"LOAD_NAME", "LOAD_GLOBAL", "DELETE_NAME", "DELETE_GLOBAL"}
    class_body = not code.co_flags & inspect.CO_OPTIMIZED and code.co_name != "<module>"
    own = {i.argval for i in dis.get_instructions(code) if i.opname == "STORE_NAME"} if class_body else set()
    for instruction in dis.get_instructions(code):
        if instruction.opname in looks and instruction.argval not in own:
            (now if at_once else later).add(instruction.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            runs_now = at_once and (const.co_name in ("<listcomp>", "<setcomp>", "<dictcomp>")
                                    or not const.co_flags & inspect.CO_OPTIMIZED)
            inner_now, inner_later = _namespace_names(const, runs_now)
            now |= inner_now
            later |= inner_later
    return now, later


@pytest.mark.parametrize("where, source", _corpus())
def test_the_reading_of_every_lecture_cell_covers_its_compiled_code(where, source):
    found = dataflow.names(source)
    if found.everything:
        return
    now, later = _namespace_names(compile(source, where, "exec"))
    assert later <= found.later
    assert now | later <= found.reads | found.binds


def _cells(*sources):
    return [dataflow.names(s) for s in sources]


def test_a_skipped_cell_that_a_later_cell_reads_runs_and_so_does_what_it_reads():
    cells = _cells("a = 1", "b = a + 1", "c = b * 2", "print(a)")
    assert dataflow.skipped(cells, {1, 2}) == {1, 2}           # nothing after them reads b or c
    assert dataflow.skipped(cells, {0, 1}) == set()            # c = b * 2 runs: b, hence a, needed
    cells = _cells("a = 1", "b = 2", "plot(b)", "use(a)")
    assert dataflow.skipped(cells, {0, 1, 2}) == {1, 2}        # use(a) runs after a = 1


def test_a_function_reads_what_its_cell_bound_before_it_whenever_it_is_called():
    # gradcheck: X bound, then a loss reading X defined, and called by a test: the figure's X
    # before it is never what the loss reads, whoever calls it when
    cells = _cells("X = grid()", "X = data()\ndef loss():\n    return X", "test(loss())")
    assert dataflow.skipped(cells, {0}) == {0}
    # a function defined before the figure reads the figure's X when called after it
    cells = _cells("def loss():\n    return X", "X = grid()", "test(loss())")
    assert dataflow.skipped(cells, {1}) == set()
    # and one that reads X before its cell binds it reads the figure's X
    cells = _cells("X = grid()", "def loss():\n    return X\nX = data()", "test(loss())")
    assert dataflow.skipped(cells, {0}) == set()


def test_what_a_score_depends_on_is_followed_backwards_through_every_reader():
    cells = _cells("import numpy as np", "helper = np.ones(3)", "def f():\n    return helper",
                   "fig = plot()", "test(f())")
    assert dataflow.depended_on(cells, scored={4}) == {0, 1, 2, 4}
    assert dataflow.depended_on(cells, scored={4}, skipped={2}) == {4}


def _random_notebook(rng: random.Random, n: int) -> tuple[list[str], set[int], set[int]]:
    """Cells of plain Python over a few shared names: (sources, test cells, skip candidates)."""
    pool = ["a", "b", "c", "d", "e"]
    sources, tests, candidates = [], set(), set()
    for i in range(n):
        x, y, z = rng.choice(pool), rng.choice(pool), rng.choice(pool)
        kind = rng.random()
        if kind < 0.25:
            sources.append(f"{x} = {rng.randint(1, 9)}")
        elif kind < 0.45:
            sources.append(f"{x} = {y} + {z} if '{y}' in globals() and '{z}' in globals() else {i}")
        elif kind < 0.6:
            sources.append(f"def f{i}():\n    return {y} * 2\n{x} = {i}")
        elif kind < 0.7:
            sources.append(f"{x} += 1" if rng.random() < 0.5 else f"del {x}")
        else:
            called = [s.split("(")[0].split()[-1] for s in sources if s.startswith("def ")]
            use = f"{rng.choice(called)}()" if called and rng.random() < 0.5 else y
            sources.append(f"seen.append(('{i}', {use}))")
            tests.add(i)
        if i not in tests and rng.random() < 0.5:
            candidates.add(i)
    return sources, tests, candidates


def _run(sources: list[str], leave_out: set[int], tests: set[int]) -> list:
    """What the test cells saw (their values, or their NameError)."""
    namespace = {"seen": []}
    for i, source in enumerate(sources):
        if i in leave_out:
            continue
        try:
            exec(source, namespace)
        except (NameError, UnboundLocalError) as exc:
            if i in tests:
                namespace["seen"].append((str(i), f"error: {exc}"))
    return namespace["seen"]


@pytest.mark.parametrize("seed", range(200))
def test_skipping_never_changes_what_a_test_sees(seed):
    rng = random.Random(seed)
    # the globals() guard makes cells read names dynamically: half the notebooks drop it
    sources, tests, candidates = _random_notebook(rng, rng.randint(3, 14))
    if seed % 2:
        sources = [s.split(" if ")[0] if " if " in s else s for s in sources]
    cells = [dataflow.names(s) for s in sources]
    skip = dataflow.skipped(cells, candidates)
    assert skip <= candidates
    everything = _run(sources, set(), tests)
    assert _run(sources, skip, tests) == everything
    # and what the tests depend on is enough: leaving out everything else changes nothing either
    needed = dataflow.depended_on(cells, tests)
    assert _run(sources, set(range(len(sources))) - needed, tests) == everything


# -- from the source notebook's metadata ------------------------------------------------------

def _meta(gid, **nbgrader):
    return {"nbgrader": {"grade_id": gid, "locked": True, "schema_version": 3, "solution": False,
                         "grade": False, "task": False, **nbgrader}}


def _notebook(measure="grid = list(range(10))\nsecs = [g * 0.1 for g in grid]",
              figure="print(max(secs))", measure_meta=None, figure_meta=None, notebook_meta=None):
    nb = new_notebook(metadata={"gradlab": notebook_meta} if notebook_meta else {})
    nb.cells = [
        new_markdown_cell("# intro", metadata=_meta("intro")),
        new_code_cell("import math", metadata=_meta("imports")),
        new_code_cell("def f(x):\n    return math.sin(x)", metadata=_meta("f", solution=True, locked=False)),
        new_code_cell("assert f(0) == 0", metadata=_meta("test_f", grade=True, points=1)),
        new_code_cell(measure, metadata={**_meta("measure"), **({"gradlab": measure_meta} if measure_meta else {})}),
        new_code_cell(figure, metadata={**_meta("figure"), **({"gradlab": figure_meta} if figure_meta else {})}),
    ]
    return nb


SKIP = {"grading": "skip"}


def test_plan_skips_what_the_source_marks_and_limits_what_it_declares():
    source = _notebook(measure_meta={**SKIP, "timeout": 300}, figure_meta=SKIP, notebook_meta={"cell_timeout": 90})
    assert engine.check_source(source) == []
    skip, unscored, timeouts = engine.plan_cells(source, source)
    assert skip == [4, 5] and unscored == []
    assert timeouts == {1: 90, 2: 90, 3: 90, 4: 300, 5: 90}
    # only the source's word counts: a submission that marks its own cells changes nothing
    submitted = _notebook(measure_meta=SKIP, figure_meta=SKIP)
    submitted.cells[1].metadata["gradlab"] = {"timeout": 1e9}
    assert engine.plan_cells(submitted, _notebook()) == ([], [4, 5], {})


def test_a_skipped_cell_runs_when_the_submission_reads_what_it_binds():
    source = _notebook(measure_meta=SKIP, figure_meta=SKIP)
    submitted = nbformat.from_dict(source)
    submitted.cells.append(new_code_cell("print(secs)"))  # the student's own cell at the end
    skip, _, _ = engine.plan_cells(submitted, source)
    assert skip == [5]
    edited = nbformat.from_dict(source)
    edited.cells[4].source = "secs = 'changed'"  # not the source's code (unlocked and edited)
    assert engine.plan_cells(edited, source)[0] == [5]


@pytest.mark.parametrize("change, words", [
    ({"measure_meta": SKIP}, "figure reads what it binds (secs)"),
    ({"measure_meta": {"grading": "sometimes"}}, 'is not "skip"'),
    ({"measure_meta": {"timeout": -1}}, "is not a positive number"),
    ({"notebook_meta": {"cell_timeout": "long"}}, "is not a positive number"),
    ({"measure": "math.pi = 3", "measure_meta": SKIP}, "changes what it did not bind (math.pi)"),
])
def test_release_refuses_a_plan_that_would_change_a_later_cell(change, words):
    problems = engine.check_source(_notebook(**change))
    assert any(words in p for p in problems), problems


def test_a_test_or_an_answer_is_never_skipped():
    source = _notebook()
    source.cells[3].metadata["gradlab"] = SKIP
    assert "only a locked lecture cell" in " ".join(engine.check_source(source))
    assert engine.plan_cells(source, source)[0] == []


# -- cells the release did not give ------------------------------------------------------------

def test_foreign_and_copied_cells_are_found_and_made_plain():
    nb = _notebook()
    known = {"intro", "imports", "f", "test_f", "measure", "figure"}
    nb.cells.insert(1, new_markdown_cell("crafted", metadata=_meta("not_released", task=True)))
    nb.cells.append(nbformat.from_dict(nb.cells[4]))  # test_f, copied below
    nb.cells.append(new_code_cell("x = 1", metadata={"nbgrader": "not a dict"}))
    assert foreign_cells(nb, known) == (["not_released", "(no id)"], ["test_f"])
    drop_foreign_cells(nb, known)
    assert foreign_cells(nb, known) == ([], [])
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids == ["intro", None, "imports", "f", None, "measure", "figure", "test_f", None]
