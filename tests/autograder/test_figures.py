"""Figures while grading: drawn or not as ``[grading] figures`` says, and the feedback says
where an undrawn figure was."""

from __future__ import annotations

import asyncio

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gradlab_grader.execution import engine
from gradlab_grader.kernel import launcher as kernel_launcher
from gradlab_grader.preprocessors import FigureNotes
from gradlab_grader.workspace import Workspace

from .conftest import _meta

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

PLOTS = [
    "import matplotlib.pyplot as plt",
    "plt.plot([1, 4, 9])\nplt.show()",                       # shown explicitly
    "fig, ax = plt.subplots(1, 2)\nax[0].plot([3, 1])",      # flushed at the end of the cell
    "print('no figure here')",
]


def _outputs(figures: bool) -> list:
    async def run():
        kernels = engine.Kernels(kernel_launcher.launcher(False), figures=figures)
        try:
            nb = new_notebook(cells=[new_code_cell(src) for src in PLOTS])
            work = engine.NotebookWork("plots", nbformat.writes(nb))
            return await engine.execute_notebook(work, {}, engine.ExecLimits(cell_timeout=60), kernels)
        finally:
            await kernels.close()

    result = asyncio.run(run())
    assert not result.error, result.error
    return nbformat.reads(result.notebook, as_version=4).cells


@pytest.fixture(scope="module")
def drawn_and_not():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MPLBACKEND", raising=False)  # the kernels' own default: the inline backend
        return _outputs(True), _outputs(False)


def _kinds(cell) -> list[set]:
    return [set(o.get("data", {})) for o in cell.outputs if o.output_type == "display_data"]


def test_a_kernel_that_draws_figures_shows_images(drawn_and_not):
    drawn, _ = drawn_and_not
    assert all("image/png" in kinds for cell in drawn[1:3] for kinds in _kinds(cell))
    assert [len(_kinds(c)) for c in drawn[1:3]] == [1, 1]


def test_a_kernel_that_does_not_draw_shows_the_figure_text_and_feedback_a_note(drawn_and_not):
    _, undrawn = drawn_and_not
    assert [_kinds(c) for c in undrawn[1:3]] == [[{"text/plain"}], [{"text/plain"}]]
    shown = [o.data["text/plain"] for c in undrawn[1:3] for o in c.outputs if o.output_type == "display_data"]
    assert "with 1 Axes" in shown[0] and "with 2 Axes" in shown[1]
    assert undrawn[3].outputs[0].text == "no figure here\n"
    nb, _ = FigureNotes().preprocess(new_notebook(cells=undrawn), {})
    notes = [o.data["text/plain"] for c in nb.cells[1:3] for o in c.outputs if o.output_type == "display_data"]
    assert notes == [FigureNotes().note] * 2 and "not drawn while grading" in notes[0]


def test_figure_notes_leave_images_and_other_text_alone(drawn_and_not):
    drawn, _ = drawn_and_not
    before = [c.outputs for c in drawn]
    nb, _ = FigureNotes().preprocess(new_notebook(cells=drawn), {})
    assert [c.outputs for c in nb.cells] == before


def _source_with(ws: Workspace, cells) -> None:
    folder = ws.source("plots")
    folder.mkdir(parents=True)
    nbformat.write(new_notebook(cells=cells), folder / "plots.ipynb")


def test_figures_are_drawn_by_default_only_where_a_person_grades(toy_repo, tmp_path):
    auto = Workspace(tmp_path / "auto", repo=toy_repo)
    _source_with(auto, [new_code_cell("x = 1", metadata=_meta("a", solution=True, locked=False)),
                        new_code_cell("assert x", metadata=_meta("t", grade=True, points=1))])
    assert auto.draws_figures("plots") is False
    by_hand = Workspace(tmp_path / "by_hand", repo=toy_repo)
    task = _meta("task", locked=True)
    task["nbgrader"].update(task=True, points=2)
    _source_with(by_hand, [new_markdown_cell("Describe the plot.", metadata=task)])
    assert by_hand.draws_figures("plots") is True
    written = Workspace(tmp_path / "written", repo=toy_repo)
    _source_with(written, [new_code_cell("plot_it()", metadata=_meta("w", solution=True, grade=True,
                                                                      points=3, locked=False))])
    assert written.draws_figures("plots") is True


@pytest.mark.parametrize("choice, drawn", [("draw", True), ("skip", False)])
def test_the_policy_file_decides(toy_repo, tmp_path, choice, drawn):
    ws = Workspace(tmp_path / "ws", repo=toy_repo)
    _source_with(ws, [new_code_cell("x = 1")])
    ws.root.mkdir(exist_ok=True)
    ws.policy_file.write_text(f'[grading]\nfigures = "{choice}"\n')
    assert ws.draws_figures("plots") is drawn


def test_a_misspelt_choice_is_a_clear_error(toy_repo, tmp_path):
    ws = Workspace(tmp_path / "ws", repo=toy_repo)
    ws.root.mkdir(exist_ok=True)
    ws.policy_file.write_text('[grading]\nfigures = "sometimes"\n')
    with pytest.raises(ValueError, match=r"figures is one of 'auto', 'draw', 'skip', not 'sometimes'"):
        ws.policy()
