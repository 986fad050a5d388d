"""HideHiddenTests: hidden-test source and the traceback frames quoting it leave the feedback."""

from nbformat.v4 import new_code_cell, new_notebook, new_output

from gradlab_grader.preprocessors import HideHiddenTests


def test_hidden_region_and_traceback_are_removed():
    cell = new_code_cell(
        "# visible line\n### BEGIN HIDDEN TESTS\nassert secret(3) == 4\n### END HIDDEN TESTS",
        metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1, "solution": False,
                               "locked": True, "schema_version": 3, "task": False}},
        outputs=[new_output("error", ename="CheckFailure", evalue="secret: 2× the reference",
                            traceback=["frame quoting assert secret(3) == 4", "CheckFailure: secret: 2×"])])
    plain = new_code_cell("x = 1  # BEGIN HIDDEN TESTS appears only in hidden-test cells")
    plain.source = "x = 1"
    nb = new_notebook(cells=[cell, plain])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    out = nb.cells[0]
    assert "secret" not in out.source and "visible line" in out.source
    assert "hidden tests ran here" in out.source
    assert out.outputs[0].traceback == ["CheckFailure: secret: 2×"]
    assert nb.cells[1].source == "x = 1"
