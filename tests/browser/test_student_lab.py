"""The students' lab (``make lab``) in a real JupyterLab, driven by Debian's Chromium.

* Run All on an unfinished notebook runs to the end: the failing tests do not stop it, and the
  figures further down appear;
* a failing test shows one short message (what was called, what was expected, the likely
  mistake), no traceback;
* the menus offer none of nbgrader's instructor tools (Formgrader, Create Assignment, the
  assignment and course lists), while the toolbar keeps Validate.

Screenshots are kept in tests/browser/artifacts/.
"""

from __future__ import annotations

import nbformat
import pytest

from browser import harness
from gradlab_grader import mistakes
from gradlab_grader.cells import exercise_of_cells, grade_id, is_answer

from .conftest import REPO

pytestmark = pytest.mark.browser

ASSIGNMENT = "01_derivatives"
INSTRUCTOR_TOOLS = ("Formgrader", "Create assignment", "Create Assignment", "Assignment List", "Course List")

# every code cell's grade_id, execution count, output types and rendered output text
CELLS_JS = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(c => c.model.type === 'code')
  .map(c => ({id: (c.model.getMetadata('nbgrader') || {}).grade_id || null,
              count: c.model.executionCount,
              kinds: c.model.outputs.toJSON().map(o => o.output_type),
              png: c.model.outputs.toJSON().some(o => o.data && o.data['image/png']),
              text: (c.node.querySelector('.jp-OutputArea') || {textContent: ''}).textContent}))"""
DONE_JS = """() => { const w = window.jupyterapp.shell.currentWidget;
  return w.sessionContext.session.kernel.status === 'idle' &&
         w.content.widgets.filter(c => c.model.type === 'code').every(c => c.model.executionCount !== null); }"""


def menu_labels(page) -> dict[str, list[str]]:
    """Every item of every menu of the menu bar, as a student would open them."""
    found = {}
    for top in page.locator(".lm-MenuBar-itemLabel").all_inner_texts():
        page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
        page.wait_for_timeout(200)
        found[top] = [t for t in page.locator(".lm-Menu .lm-Menu-itemLabel").all_inner_texts() if t]
        page.keyboard.press("Escape")
    return found


@pytest.fixture(scope="module")
def mistaken(student_lab):
    """The released notebook with one exercise answered by a known mistake (from the
    assignment's mistake set), the rest left unfinished; returns (path, the mistake, the id of
    that exercise's visible test)."""
    mistake = next(m for m in mistakes.load(REPO / "solutions" / ASSIGNMENT) if m.hint == "known-mistake")
    path = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    nb = nbformat.read(student_lab.root / path, as_version=4)
    for cell in nb.cells:
        if is_answer(cell) and grade_id(cell) == mistake.exercise:
            cell.source = mistake.source
    nbformat.write(nb, student_lab.root / "mistaken.ipynb")
    visible = next(t for t, ex in exercise_of_cells(nb).items() if ex == mistake.exercise)
    return "mistaken.ipynb", mistake, visible


def test_run_all_runs_an_unfinished_notebook_to_the_end(student_lab, page, mistaken, artifacts):
    path, mistake, visible = mistaken
    harness.open_notebook(page, student_lab, path)
    harness.run_all(page)
    page.wait_for_function(DONE_JS, polling=500, timeout=180_000)
    cells = page.evaluate(CELLS_JS)
    page.screenshot(path=str(artifacts / "student-run-all.png"), full_page=False)

    assert all(c["count"] is not None for c in cells), "Run All stopped before the last cell"
    failing = [i for i, c in enumerate(cells) if "error" in c["kinds"]]
    assert failing, "an unfinished notebook has failing tests"
    figures_after = [c["id"] for c in cells[failing[0] + 1:] if c["png"]]
    assert len(figures_after) >= 2, f"figures after the first failing test: {figures_after}"
    # only tests fail: the lecture's own cells (figures, worked examples) all ran cleanly
    assert {cells[i]["id"] for i in failing} <= set(exercise_of_cells(
        nbformat.read(student_lab.root / path, as_version=4)))


def test_a_failing_test_shows_one_short_message(student_lab, page, mistaken, artifacts):
    path, mistake, visible = mistaken
    harness.open_notebook(page, student_lab, path)
    harness.run_all(page)
    page.wait_for_function(DONE_JS, polling=500, timeout=180_000)
    shown = {c["id"]: c for c in page.evaluate(CELLS_JS)}
    text = shown[visible]["text"].strip()
    cell = page.locator(".jp-Cell", has_text=text.splitlines()[0]).first
    cell.scroll_into_view_if_needed()
    cell.screenshot(path=str(artifacts / "student-failing-test.png"))

    lines = text.splitlines()
    assert shown[visible]["kinds"].count("error") == 1
    assert len(lines) == 3, text
    assert lines[0].startswith("Test failed: ") and lines[1].strip().startswith("expected ")
    assert lines[2].strip().startswith("likely mistake: ")
    for jargon in ("Traceback", "CheckFailure", "(check:", "known-mistake", ".py"):
        assert jargon not in text, text
    # an unfinished exercise says so, plainly, in its test
    unfinished = [c["text"].strip() for c in shown.values() if c["id"] != visible and "error" in c["kinds"]]
    assert unfinished and all(t.startswith("Test failed: `") and "is not implemented yet" in t
                              and len(t.splitlines()) == 2 for t in unfinished), unfinished


def test_the_student_lab_offers_no_instructor_tools(student_lab, page, artifacts):
    harness.open_notebook(page, student_lab, f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb")
    menus = menu_labels(page)
    offered = [f"{top} > {item}" for top, items in menus.items() for item in items
               if any(tool in item for tool in INSTRUCTOR_TOOLS)]
    assert "Nbgrader" not in menus and offered == []
    toolbar = page.locator(".jp-NotebookPanel-toolbar").first
    assert "Validate" in toolbar.inner_text()
    page.screenshot(path=str(artifacts / "student-lab.png"))


def test_the_full_install_does_offer_them(lab, page, student_lab):
    """The same look at a lab with every extension on finds the tools: the check above can fail."""
    nb = nbformat.read(student_lab.root / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    nbformat.write(nb, lab.root / "full.ipynb")
    harness.open_notebook(page, lab, "full.ipynb")
    items = menu_labels(page).get("Nbgrader", [])
    assert "Formgrader" in items and any(i.lower() == "create assignment" for i in items)
