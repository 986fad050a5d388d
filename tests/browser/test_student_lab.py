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

import re

import nbformat
import pytest

from gradlab_grader import mistakes
from gradlab_grader.cells import exercise_of_cells, grade_id, is_answer

from .conftest import REPO
from browser import harness

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
              text: (c.node.querySelector('.jp-OutputArea') || {textContent: ''}).textContent,
              traceback: c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                                           .map(o => o.traceback.join('\\n')).join('\\n')}))"""
# Run All is over when every code cell ran, or when no cell is queued or running ('[*]') and the
# kernel has been idle for 15 s (Run All stopped early: the cells below were never run).  On a
# loaded machine the kernel can look idle for seconds between two cells of one Run All.
DONE_JS = """() => { const w = window.jupyterapp.shell.currentWidget;
  const now = performance.now();
  const code = w.content.widgets.filter(c => c.model.type === 'code');
  const queued = code.some(c => c.model.executionState === 'running'
                                || (c.node.querySelector('.jp-InputPrompt') || {textContent: ''})
                                     .textContent.includes('*'));
  if (queued || w.sessionContext.session.kernel.status !== 'idle') { window.__gradlab_busy = now; return false; }
  return code.every(c => c.model.executionCount !== null) || now - window.__gradlab_busy > 15000; }"""


def run_all_and_wait(page):
    page.evaluate("() => { window.__gradlab_busy = performance.now(); }")
    harness.run_all(page)
    page.wait_for_function(DONE_JS, polling=250, timeout=400_000)


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
def ran_all(student_lab, browser, artifacts):
    """Run All, once, on the released notebook with one exercise answered by a known mistake
    (from the assignment's mistake set) and the rest left unfinished.  Returns the code cells
    as shown (see CELLS_JS), the mistake, and the id of that exercise's visible test."""
    mistake = next(m for m in mistakes.load(REPO / "solutions" / ASSIGNMENT) if m.hint == "known-mistake")
    nb = nbformat.read(student_lab.root / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for cell in nb.cells:
        if is_answer(cell) and grade_id(cell) == mistake.exercise:
            cell.source = mistake.source
    nbformat.write(nb, student_lab.root / "mistaken.ipynb")
    visible = next(t for t, ex in exercise_of_cells(nb).items() if ex == mistake.exercise)

    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    try:
        harness.open_notebook(page, student_lab, "mistaken.ipynb")
        run_all_and_wait(page)
        cells = page.evaluate(CELLS_JS)
        page.screenshot(path=str(artifacts / "student-run-all.png"))
        shown = page.locator(".jp-Cell", has_text="Test failed: ").first
        if shown.count():
            shown.scroll_into_view_if_needed()
            shown.screenshot(path=str(artifacts / "student-failing-test.png"))
    finally:
        context.close()
    return cells, mistake, visible, exercise_of_cells(nb)


def test_run_all_runs_an_unfinished_notebook_to_the_end(ran_all):
    cells, _, _, tests = ran_all
    assert all(c["count"] is not None for c in cells), "Run All stopped before the last cell"
    failing = [i for i, c in enumerate(cells) if "error" in c["kinds"]]
    assert failing, "an unfinished notebook has failing tests"
    figures_after = [c["id"] for c in cells[failing[0] + 1:] if c["png"]]
    assert len(figures_after) >= 2, f"figures after the first failing test: {figures_after}"
    # only tests fail: the lecture's own cells (figures, worked examples) all ran cleanly
    assert {cells[i]["id"] for i in failing} <= set(tests)


def shown_text(cell) -> str:
    """What a cell's output area shows; a cell JupyterLab has not drawn yet (off screen: the
    notebook is windowed) has no text in the page, and its error's traceback is what it will show."""
    return (cell["text"] or re.sub(r"\x1b\[[0-9;]*m", "", cell["traceback"])).strip()


def test_a_failing_test_shows_one_short_message(ran_all):
    cells, mistake, visible, _ = ran_all
    shown = {c["id"]: c for c in cells}
    assert shown[visible]["kinds"].count("error") == 1, f"{visible} did not fail once: {shown[visible]}"
    text = shown_text(shown[visible])
    lines = text.splitlines()
    # the call, what came back, the likely mistake (wrapped at word boundaries, indented)
    assert len(lines) >= 3 and all(line.startswith("    ") for line in lines[3:]), text
    assert lines[0].startswith("Test failed: ") and lines[1].strip().startswith("expected "), text
    assert lines[2].strip().startswith("likely mistake: "), text
    for jargon in ("Traceback", "CheckFailure", "(check:", "known-mistake", ".py"):
        assert jargon not in text, text
    # an unfinished exercise says so, plainly, in its test
    unfinished = [shown_text(c) for c in cells if c["id"] != visible and "error" in c["kinds"]]
    assert unfinished
    for text in unfinished:
        assert (text.startswith("Test failed: `") and text.endswith(
            "is not implemented yet\n  replace `raise NotImplementedError()` with your code")), text


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
