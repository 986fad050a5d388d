"""The class report's numbers and page, from results built by hand."""

from __future__ import annotations

import re

import pytest

from gradlab_grader import report
from gradlab_grader.results import CellResult, SubmissionResult
from gradlab_grader.similarity import Pair


def _result(student, fails, problem=""):
    """Two exercises of two tests (1 + 4 points each); ``fails``: {grade_id: (lost, code)}."""
    cells = []
    for ex in ("grad", "jac"):
        for gid, pts in ((f"test_{ex}_visible", 1.0), (f"test_{ex}_hidden", 4.0)):
            lost, code = fails.get(gid, (0.0, ""))
            error = f"CheckFailure: {gid} failed for {student} (check: {code})" if code else ""
            cells.append(CellResult(gid, ex, pts - lost, pts, error, code))
    r = SubmissionResult(student, "01_x", sum(c.score for c in cells), 10.0, cells)
    r.problems = [problem] if problem else []
    return r


@pytest.fixture
def results():
    return [_result("ann", {}),
            _result("bob", {"test_jac_visible": (1, "shape"), "test_jac_hidden": (4, "shape")}),
            _result("cyd", {"test_jac_hidden": (4, "shape"), "test_grad_hidden": (4, "factor")}),
            _result("dan", {}, problem="calls gradlab's reference implementation (tripwire)")]


def test_numbers(results):
    rep = report.analyse(results)
    assert rep.scores == {"ann": 10, "bob": 5, "cyd": 2, "dan": 10}
    assert rep.lost_per_exercise == {"jac": 9, "grad": 4}
    assert rep.lost_per_test == {"test_jac_visible": 1, "test_jac_hidden": 8, "test_grad_hidden": 4}
    shape, factor = rep.misconceptions
    assert (shape.code, shape.count, shape.students, shape.exercises) == ("shape", 3, 2, ["jac"])
    assert (factor.code, factor.count, factor.students) == ("factor", 1, 1)
    assert "bob" not in shape.example and "cyd" not in shape.example and report.STUDENT_PLACEHOLDER in shape.example
    assert rep.review == {"dan": ["calls gradlab's reference implementation (tripwire)"]}


def test_page_is_self_contained_with_every_section(results):
    pair = Pair("jac", "bob", "cyd", 0.93, "def jac(x):\n    return x.T", "def jac(y):\n    return y.T")
    older = [_result(s, {}) for s in ("ann", "bob", "cyd", "dan")]
    for r in older:
        r.assignment = "00_intro"
    page = report.render(report.analyse(results, [pair], history={"00_intro": older}))
    for section in ("distribution", "lost", "misconceptions", "review", "timing", "similarity", "trend"):
        assert f'id="{section}"' in page
    assert page.count("<svg") == 4     # scores, lost, misconceptions, trend (no timing recorded)
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)   # nothing fetched
    assert "<script" not in page
    assert "return y.T" in page and "bob ~ cyd" in page


def test_summary_is_one_screen(results):
    text = report.summary(report.analyse(results), "grading/reports/01_x.html")
    assert len(text.splitlines()) <= 12 and "shape: 2 students" in text and "dan" in text


def test_no_results_is_a_clear_error():
    with pytest.raises(ValueError, match="run `gradlab autograde` first"):
        report.analyse([])
