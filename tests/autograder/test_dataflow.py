"""Which cells grading may skip, and which a score depends on: never a cell a test needs.

The oracle is execution: a random notebook of plain Python cells is run twice in an ordinary
namespace, once whole and once without the cells the analysis skips, and every test cell must
see exactly the same values (and no NameError) both times.
"""

from __future__ import annotations

import random

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gradlab_grader.cells import drop_foreign_cells, foreign_cells
from gradlab_grader.execution import dataflow, engine


@pytest.mark.parametrize("source, binds, reads", [
    ("x = y + 1", {"x"}, {"y"}),
    ("def f(a):\n    return a * scale", {"f", "a"}, {"a", "scale"}),
    ("import numpy as np\nfrom gradlab import checks", {"np", "checks"}, set()),
    ("total += step", {"total"}, {"total", "step"}),
    ("class C:\n    k = base\n", {"C", "k"}, {"base"}),
    ("for i, v in enumerate(xs):\n    pass", {"i", "v"}, {"enumerate", "xs"}),
    ("del old", {"old"}, {"old"}),
    ("def g():\n    global counter\n    counter = 1", {"g", "counter"}, set()),
    ("try:\n    pass\nexcept ValueError as err:\n    pass", {"err"}, {"ValueError"}),
    ("obj.attr = value", set(), {"obj", "value"}),
])
def test_names_a_cell_binds_and_reads(source, binds, reads):
    found = dataflow.names(source)
    assert not found.everything
    assert found.binds == binds and found.reads == reads


@pytest.mark.parametrize("source", ["%matplotlib widget", "x = (", "from numpy import *",
                                    "globals()['x'] = 1", "y = eval('x')", "get_ipython().user_ns['x']"])
def test_what_cannot_be_read_statically_binds_and_reads_everything(source):
    assert dataflow.names(source).everything


def _cells(*sources):
    return [dataflow.names(s) for s in sources]


def test_a_skipped_cell_that_a_later_cell_reads_runs_and_so_does_what_it_reads():
    cells = _cells("a = 1", "b = a + 1", "c = b * 2", "print(a)")
    assert dataflow.skipped(cells, {1, 2}) == {1, 2}           # nothing after them reads b or c
    assert dataflow.skipped(cells, {0, 1}) == set()            # c = b * 2 runs: b, hence a, needed
    cells = _cells("a = 1", "b = 2", "plot(b)", "use(a)")
    assert dataflow.skipped(cells, {0, 1, 2}) == {1, 2}        # use(a) runs after a = 1


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
