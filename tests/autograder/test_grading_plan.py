"""How grading runs a notebook's cells, end to end on a toy course with lecture cells:

* a slow lecture cell the source marks ``"gradlab": {"grading": "skip"}`` (and its figure) is
  not run, and the feedback says so;
* a lecture cell no score depends on that hangs (its own limit from the source) and the figure
  cell that then fails with a NameError flag nobody;
* a crafted cell (nbgrader task metadata with an id the gradebook does not know) or a copied
  test cell is flagged and ignored: that notebook and every later one are graded.

Every hang here is endless, so no outcome depends on how fast the machine is.
"""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from gradlab_grader import Workspace, pipeline
from gradlab_grader.execution import engine
from gradlab_grader.outputs.results import GRADED, read_results
from gradlab_grader.recording import ledger

from .conftest import _meta, answer, release_toy, toy_notebook

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

GOOD = "def double(x):\n    return 2.0 * np.asarray(x, dtype=float)"
HALF = "def double(x):\n    return np.asarray(x, dtype=float)"
SKIP = {"grading": "skip"}


def lecture_notebook():
    """The toy notebook with lecture cells: a hanging demo (limit 2 s) and its figure between
    the answer and the tests, and an endless measurement and its figure, skipped, at the end."""
    nb = toy_notebook()
    slow = new_code_cell("import time\nwhile True:\n    time.sleep(0.05)\ndemo_values = [1, 2]",
                         metadata={**_meta("slow_demo"), "gradlab": {"timeout": 2}})
    figure = new_code_cell("print(sum(demo_values))", metadata=_meta("demo_figure"))
    nb.cells[3:3] = [slow, figure]
    nb.cells += [
        new_code_cell("import time\nsecs = []\nwhile True:\n    time.sleep(1)",
                      metadata={**_meta("measure"), "gradlab": SKIP}),
        new_code_cell("print(len(secs))", metadata={**_meta("measure_figure"), "gradlab": SKIP}),
    ]
    return nb


def crafted_task(nb):
    """A markdown cell claiming to be an nbgrader task with an id the release never gave."""
    meta = _meta("not_in_gradebook")
    meta["nbgrader"].update(task=True, points=5)
    nb.cells.insert(1, new_markdown_cell("I graded myself", metadata=meta))


def copied_test(nb):
    """The visible test cell, copied and pasted right below itself."""
    at = next(i for i, c in enumerate(nb.cells)
              if c.metadata.get("nbgrader", {}).get("grade_id") == "test_double_visible")
    pasted = nbformat.from_dict(nb.cells[at])
    pasted.id = "pasted-copy"  # JupyterLab gives a pasted cell an id of its own
    nb.cells.insert(at + 1, pasted)


# student -> (answer, change to the notebook)
CLASS = {"copied_test": (GOOD, copied_test), "good": (GOOD, None), "unknown_task": (GOOD, crafted_task),
         "zz_after": (HALF, None)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    ws = release_toy(tmp_path_factory.mktemp("lecture-repo"), lecture_notebook(), bundles=False)
    for student, (body, change) in CLASS.items():
        nb = answer(ws, body)
        if change:
            change(nb)
        folder = ws.submission(student, "toy")
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "toy.ipynb")
    pipeline.autograde(ws, "toy", progress=False, workers=1)
    return ws, {r.student: r for r in read_results(ws, "toy")}


def _graded_cells(ws, student):
    nb = nbformat.read(ws.autograded(student, "toy") / "toy.ipynb", as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def test_a_lecture_cell_no_score_depends_on_flags_nobody(graded):
    ws, results = graded
    good = results["good"]
    assert (good.status, good.score, good.problems) == (GRADED, 3, [])
    cells = _graded_cells(ws, "good")
    hung = [o for o in cells["slow_demo"].outputs if o.output_type == "error"]
    assert hung and hung[-1].ename == engine.CELL_HUNG
    assert "(2 s)" in hung[-1].evalue and engine.UNSCORED_NOTE in hung[-1].evalue
    assert any(o.get("ename") == "NameError" for o in cells["demo_figure"].outputs)
    # noted for whoever reads the record, never a flag
    record = ledger.Ledger(ws, "toy").get("good")
    assert any("slow_demo" in note and engine.UNSCORED_NOTE in note for note in record["notes"])
    assert record["problems"] == []


def test_cells_the_source_marks_are_not_run_and_the_feedback_says_so(graded):
    ws, _ = graded
    cells = _graded_cells(ws, "good")
    for gid in ("measure", "measure_figure"):
        assert [o.get("text", "").strip() for o in cells[gid].outputs] == [engine.SKIPPED_NOTE]
    statuses = {c["grade_id"]: c["status"] for c in ledger.Ledger(ws, "toy").get("good")["cells"]}
    assert statuses["measure"] == statuses["measure_figure"] == "skipped"


def test_crafted_and_copied_cells_are_flagged_ignored_and_stop_nobody(graded):
    _, results = graded
    crafted, copied = results["unknown_task"], results["copied_test"]
    assert (crafted.status, crafted.score) == (GRADED, 3)
    assert any("not_in_gradebook" in p and "ignored" in p for p in crafted.problems), crafted.problems
    assert (copied.status, copied.score) == (GRADED, 3)
    assert any("copied" in p and "test_double_visible" in p for p in copied.problems), copied.problems
    # the student graded after them is graded as usual
    after = results["zz_after"]
    assert (after.status, after.score) == (GRADED, 0)


def test_release_refuses_to_skip_a_cell_a_later_cell_needs(tmp_path):
    repo = tmp_path / "repo"
    (repo / "lib" / "gradlab").mkdir(parents=True)
    (repo / "solutions" / "toy").mkdir(parents=True)
    nb = lecture_notebook()
    del nb.cells[-1].metadata["gradlab"]  # the figure runs, the measurement it reads is skipped
    nbformat.write(nb, repo / "solutions" / "toy" / "toy.ipynb")
    ws = Workspace(repo / "grading", repo=repo)
    with pytest.raises(pipeline.GradlabError, match=r"measure is skipped while grading, but measure_figure "
                                                      r"reads what it binds \(secs\)"):
        pipeline.release(ws, ["toy"], bundles=False)
