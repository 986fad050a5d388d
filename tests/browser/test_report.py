"""The class report in a real browser: every section and plot renders, nothing is fetched, and
every way a graded class failed is listed."""

from __future__ import annotations

import pytest

from autograder import unforeseen_class as unforeseen
from gradlab_grader.outputs import report
from gradlab_grader.outputs.results import CellResult, SubmissionResult
from gradlab_grader.outputs.similarity import Pair

pytestmark = pytest.mark.browser

SECTIONS = ("distribution", "lost", "clusters", "review", "timing", "similarity", "trend")


def _result(student, assignment, lost_jac, seconds):
    cells = [CellResult("test_grad_visible", "grad", 1.0, 1.0),
             CellResult("test_jac_hidden", "jac", 4.0 - lost_jac, 4.0,
                        "CheckFailure: jacobian: expected shape (2, 3), got (3, 2) (check: shape)" if lost_jac else "",
                        "shape" if lost_jac else "")]
    r = SubmissionResult(student, assignment, sum(c.score for c in cells), 5.0, cells)
    r.seconds = seconds
    return r


def test_report_renders_every_section_and_plot(browser, tmp_path, artifacts):
    results = [_result(f"s{i:02d}", "02_x", 4.0 * (i % 3 == 0), 1.0 + i / 10) for i in range(12)]
    results[5].problems = ["cells ran past the time limit (test_jac_hidden)"]
    history = {"01_x": [_result(f"s{i:02d}", "01_x", 0.0, 1.0) for i in range(12)]}
    pair = Pair("jac", "s03", "s06", 0.97, "def jacobian(f, x):\n    return x.T", "def jacobian(g, y):\n    return y.T")
    path = tmp_path / "report.html"
    path.write_text(report.render(report.analyse(results, [pair], history)))

    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    for section in SECTIONS:
        box = page.locator(f"section#{section}").bounding_box()
        assert box and box["height"] > 40, section
    plots = page.locator("svg")
    assert plots.count() == 5                              # scores, lost, hints, timing, trend
    for i in range(plots.count()):
        box = plots.nth(i).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, f"plot {i} did not render"
    assert "s03 ~ s06" in page.inner_text("section#similarity")
    assert "time limit" in page.inner_text("section#review")
    assert [u for u in requests if not u.startswith("file:")] == []   # self-contained
    shot = artifacts / "class-report.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    page.close()


def test_every_failure_cluster_of_a_graded_class_is_listed(browser, tmp_path, artifacts):
    """A class graded for real, whose wrong answers the course mostly did not foresee (an
    overflowing sigmoid, a flipped exponent, a typo, a list repeated): each way the class failed
    is one row of the report's table, with its students, its tests and an example."""
    ws = unforeseen.grade_class(tmp_path)
    path, _ = report.write_report(ws, unforeseen.ASSIGNMENT)

    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    page.goto(path.as_uri())
    rows = page.locator("section#clusters table tr")
    texts = [rows.nth(i).inner_text() for i in range(1, rows.count())]  # row 0: the header
    assert len(texts) == len(unforeseen.CLUSTERS)
    for students, tests, text in unforeseen.CLUSTERS:
        found = [t for t in texts if text in t and all(test in t for test in tests)]
        assert len(found) == 1, f"no single row for {text!r} in {tests}"
        cells = found[0].split("\t")
        assert cells[4].strip() == str(len(students)), found[0]             # the students column
        assert not any(s in found[0].split() for s in unforeseen.ANSWERS)   # anonymised
    box = page.locator("section#clusters svg").bounding_box()
    assert box and box["height"] > 100
    shot = artifacts / "class-report-clusters.png"
    page.locator("section#clusters").screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    page.close()
