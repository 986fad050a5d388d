"""The class report's numbers and page: from results built by hand, and from a class graded for
real whose mistakes the course did not foresee."""

from __future__ import annotations

import dataclasses
import re
import statistics

import pytest

from gradlab_grader import cli
from gradlab_grader.outputs import report
from gradlab_grader.outputs.results import REJECTED, CellResult, SubmissionResult, format_table, read_results
from gradlab_grader.outputs.similarity import Pair
from gradlab_grader.recording.ledger import Ledger

from . import unforeseen_class as unforeseen

HINTS = {"shape": "transposed? (rows and columns swapped)", "factor": "a missing factor 2 (or an extra ½)?"}


def _result(student, fails, problem=""):
    """Two exercises of two tests (1 + 4 points each); ``fails``: {grade_id: (lost, code)}, each
    failing with gradlab.checks' message, which names the student's own data file."""
    cells = []
    for ex in ("grad", "jac"):
        for gid, pts in ((f"test_{ex}_visible", 1.0), (f"test_{ex}_hidden", 4.0)):
            lost, code = fails.get(gid, (0.0, ""))
            error = (f"CheckFailure: {ex}(load('{student}.npz')): expected 1, got 2 — {HINTS[code]} (check: {code})"
                     if code else "")
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
    shape, factor = rep.clusters
    assert (shape.code, shape.count, shape.students, shape.exercises) == ("shape", 3, 2, ["jac"])
    assert shape.title == f"shape: {HINTS['shape']}" and shape.tests == ["test_jac_hidden", "test_jac_visible"]
    assert (factor.code, factor.count, factor.students) == ("factor", 1, 1)
    assert "bob" not in shape.example and "cyd" not in shape.example and report.STUDENT_PLACEHOLDER in shape.example
    assert rep.review == {"dan": ["calls gradlab's reference implementation (tripwire)"]}


def test_page_is_self_contained_with_every_section(results):
    pair = Pair("jac", "bob", "cyd", 0.93, "def jac(x):\n    return x.T", "def jac(y):\n    return y.T")
    older = [_result(s, {}) for s in ("ann", "bob", "cyd", "dan")]
    for r in older:
        r.assignment = "00_intro"
    page = report.render(report.analyse(results, [pair], history={"00_intro": older}))
    for section in ("distribution", "lost", "clusters", "review", "timing", "similarity", "trend"):
        assert f'id="{section}"' in page
    assert page.count("<svg") == 4     # scores, lost, clusters, trend (no timing recorded)
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)   # nothing fetched
    assert "<script" not in page
    assert "return y.T" in page and "bob ~ cyd" in page


def test_summary_is_one_screen(results):
    text = report.summary(report.analyse(results), "grading/reports/01_x.html")
    assert len(text.splitlines()) <= 12 and f"2 students: shape: {HINTS['shape']}" in text and "dan" in text


def test_no_results_is_a_clear_error():
    with pytest.raises(ValueError, match="run `gradlab autograde` first"):
        report.analyse([])


# -- a class graded for real, with mistakes the course did not foresee -------------------------

ROSTER = ("student_id,name,email,lms_id\nada,Ada Lovelace,ada@uni.example,1\nben,Ben Okafor,,2\n"
          "cem,Cem Yılmaz,,3\ndia,,,4\n")


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    ws = unforeseen.grade_class(tmp_path_factory.mktemp("unforeseen"), roster=ROSTER)
    return ws, read_results(ws, unforeseen.ASSIGNMENT)


def _failing_tests(ws) -> set[tuple[str, str]]:
    """(student, test) of every test that did not get its points, from nbgrader's gradebook."""
    with ws.gradebook() as gb:
        return {(s.student_id, g.name) for s in gb.assignment_submissions(unforeseen.ASSIGNMENT)
                for nb in s.notebooks for g in nb.grades if g.score < g.max_score}


@pytest.mark.slow
def test_grading_time_reaches_the_report(graded_class):
    ws, results = graded_class
    book = Ledger(ws, unforeseen.ASSIGNMENT)
    recorded = {s: book.get(s)["seconds"] for s in unforeseen.ANSWERS}
    assert all(t > 0 for t in recorded.values())
    assert report.analyse(results).seconds == pytest.approx(recorded)
    page = report.render(report.analyse(results))
    timing = page[page.index('id="timing"'):page.index('id="similarity"')]
    assert "<svg" in timing and "did not record" not in timing


@pytest.mark.slow
def test_every_failing_test_is_in_exactly_one_cluster(graded_class):
    ws, results = graded_class
    clusters = report.analyse(results).clusters
    members = [m for c in clusters for m in c.members]
    assert len(members) == len(set(members)), "a failing test in two clusters"
    assert set(members) == _failing_tests(ws)
    expected = {frozenset((s, t) for s in students for t in tests) for students, tests, _ in unforeseen.CLUSTERS}
    assert {frozenset(c.members) for c in clusters} == expected
    for students, tests, text in unforeseen.CLUSTERS:
        cluster = next(c for c in clusters if set(c.members) == {(s, t) for s in students for t in tests})
        assert text in cluster.title + cluster.example
        assert (cluster.students, sorted(cluster.tests)) == (len(students), sorted(tests))
        assert not any(re.search(rf"\b{s}\b", cluster.example) for s in unforeseen.ANSWERS)


@pytest.mark.slow
def test_an_exception_is_shown_with_the_call_that_raised_it(graded_class):
    _, results = graded_class
    overflow = next(c for c in report.analyse(results).clusters if "OverflowError" in c.title)
    assert overflow.example.startswith("sigmoid(-1000.0): raised OverflowError: math range error at line 2")
    assert overflow.exercises == ["sigmoid"] and overflow.tests == ["test_sigmoid_hidden"]


@pytest.mark.slow
def test_report_and_summary_count_the_same_students(graded_class):
    ws, results = graded_class
    with ws.gradebook() as gb:   # the oracle: every graded submission, the rejected one has none
        scores = [s.score for s in gb.assignment_submissions(unforeseen.ASSIGNMENT)]
    mean = sum(scores) / len(scores)
    assert len(scores) == len(unforeseen.ANSWERS) and unforeseen.REJECTED in {r.student for r in results}
    numbers = report.analyse(results)
    assert statistics.mean(numbers.scores.values()) == pytest.approx(mean)
    text, table = report.summary(numbers), format_table(results)
    assert f"mean {mean:.1f} / 6" in text and f"mean {100 * mean / 6:.1f}%" in table
    for said in (text, table, report.render(numbers)):
        assert f"of {len(scores)} current grades" in said and "not counted: 1 rejected" in said


@pytest.mark.slow
def test_summary_and_report_name_students_from_the_roster(graded_class):
    ws, results = graded_class
    names = report.roster_names(ws)
    assert names == {"ada": "Ada Lovelace", "ben": "Ben Okafor", "cem": "Cem Yılmaz"}
    table = format_table(results, names)
    assert "Ada Lovelace (ada)" in table and "Cem Yılmaz (cem)" in table
    assert re.search(r"^dia\s", table, re.MULTILINE) and re.search(r"^gus\s", table, re.MULTILINE)
    path, text = report.write_report(ws, unforeseen.ASSIGNMENT)
    page = path.read_text()
    assert "Ada Lovelace (ada)" in page and "Ben Okafor (ben)" in page
    assert "hal" in text          # the rejected hand-in, by id: not on the roster


@pytest.mark.slow
def test_cli_summary_and_report(graded_class, capsys):
    ws, _ = graded_class
    for command in ("summary", "report"):
        assert cli.main(["--workspace", str(ws.root), "--repo", str(ws.repo), command, unforeseen.ASSIGNMENT]) == 0
    out = capsys.readouterr().out
    assert "Ada Lovelace (ada)" in out and "OverflowError" in out


def test_summary_names_each_pair_once_with_its_exercises(results):
    pairs = [Pair(ex, "bob", "cyd", 0.9, "a", "b") for ex in ("grad", "jac")]
    pairs += [Pair("jac", "ann", "dan", 1.0, "c", "d")]
    text = report.summary(report.analyse(results, pairs, names={"bob": "Bob Brown"}))
    line = next(l for l in text.splitlines() if "near-identical" in l)
    assert line.count("cyd") == 1 and "Bob Brown (bob) ~ cyd (grad, jac)" in line and "ann ~ dan (jac)" in line


def test_mean_leaves_out_a_rejected_hand_in(results):
    rejected = SubmissionResult("eli", "01_x", status=REJECTED, problems=["rejected at collect: a PDF"])
    numbers = report.analyse([*results, rejected])
    assert numbers.scores == {"ann": 10, "bob": 5, "cyd": 2, "dan": 10}
    assert "mean 6.8 / 10" in report.summary(numbers) and "mean 67.5%" in format_table([*results, rejected])


def test_a_test_lost_without_an_error_is_a_cluster_with_its_reason(results):
    hung = _result("eli", {}, problem="cells ran past the time limit (test_jac_hidden, test_grad_hidden)")
    hung.cells = [dataclasses.replace(c, score=0.0) if c.grade_id in ("test_jac_hidden", "test_grad_hidden") else c
                  for c in hung.cells]
    clusters = report.analyse([*results, hung]).clusters
    mine = [c for c in clusters if ("eli", "test_jac_hidden") in c.members or ("eli", "test_grad_hidden") in c.members]
    assert [(c.title, c.example, c.members) for c in mine] == [
        (f"points lost in {t} without an error", "cells ran past the time limit", [("eli", t)])
        for t in ("test_grad_hidden", "test_jac_hidden")]


def test_a_student_id_that_is_a_word_of_the_hint_leaves_the_hint_alone():
    named = _result("transposed", {"test_jac_hidden": (4, "shape")})
    named.cells = [dataclasses.replace(c, error=c.error.replace("load('transposed.npz')", "x"))
                   for c in named.cells]
    only_mine = _result("s07", {"test_jac_hidden": (4, "shape")})
    (shape,) = report.analyse([named]).clusters
    assert shape.title == f"shape: {HINTS['shape']}" and shape.example.endswith(f"— {HINTS['shape']}")
    (own,) = report.analyse([only_mine]).clusters
    assert "s07" not in own.example and report.STUDENT_PLACEHOLDER in own.example
