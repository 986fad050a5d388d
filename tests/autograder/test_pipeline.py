"""The grading pipeline on a toy course: release, collect, autograde, feedback, export, CLI."""

from __future__ import annotations

import csv

import nbformat
import pytest

from gradlab_grader import GradlabError, Workspace, cli, pipeline
from gradlab_grader.cells import is_answer, nbgrader_meta
from gradlab_grader.outputs.results import format_table, read_results

from .conftest import HIDDEN_CHECK, answer, write_inbox
from conftest import gradebook_url

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

GOOD = "def double(x):\n    return 2.0 * np.asarray(x, dtype=float)"
HALF = "def double(x):\n    return np.asarray(x, dtype=float)"


def _tamper_with_tests(cell, meta):
    if meta.get("grade"):
        cell.source = "pass  # the student 'fixed' the test"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def graded(request, released, tmp_path_factory):
    """The toy class, released, collected and graded, with its gradebook in SQLite (the
    workspace's gradebook.db) and again in a real PostgreSQL server."""
    ws = released
    url = gradebook_url(request, "pipeline")
    if url:
        root = tmp_path_factory.mktemp("pg")
        ws = Workspace(root / "ws", repo=released.repo, db_url=url)
        pipeline.release(ws, ["toy"], course=root / "course")
    inbox = write_inbox(tmp_path_factory.mktemp("inbox"), {
        "good": answer(ws, GOOD),
        "half": answer(ws, HALF),
        "blank": answer(ws, None),
        "tamper": answer(ws, HALF, edit=_tamper_with_tests),
        "broken": '{"cells": [',
    })
    (inbox / "lms").mkdir()
    nbformat.write(answer(ws, GOOD), inbox / "lms" / "toy (1).ipynb")
    collected = pipeline.collect(ws, "toy", inbox)
    assert collected.renamed == {"lms": "toy (1).ipynb -> toy.ipynb"}
    results = {r.student: r for r in pipeline.autograde(ws, "toy", progress=False)}
    return ws, collected.students, collected.rejected, results


def test_release_strips_solutions_and_hidden_tests(released):
    text = (released.course / "toy" / "toy.ipynb").read_text()
    for marker in pipeline.LEAK_MARKERS:
        assert marker not in text
    assert "raise NotImplementedError()" in text
    assert HIDDEN_CHECK not in text and "double(3)" in text


def test_release_is_reproducible(released):
    first = (released.course / "toy" / "toy.ipynb").read_bytes()
    pipeline.release(released, ["toy"])
    assert (released.course / "toy" / "toy.ipynb").read_bytes() == first


def test_release_of_an_unknown_assignment_names_the_known_ones(released):
    with pytest.raises(GradlabError, match="known: toy"):
        pipeline.release(released, ["nope"])


def test_collect_takes_good_files_and_rejects_broken_ones(graded):
    _, collected, rejected, _ = graded
    assert collected == ["blank", "good", "half", "lms", "tamper"]
    assert list(rejected) == ["broken"] and "not a valid notebook" in rejected["broken"]


def test_collect_reads_assignment_subfolders(released, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "ann" / "toy").mkdir(parents=True)
    nbformat.write(answer(released, GOOD), inbox / "ann" / "toy" / "toy.ipynb")
    (inbox / "bob").mkdir()
    ws = Workspace(tmp_path / "ws", repo=released.repo)
    pipeline.release(ws, ["toy"], course=tmp_path / "course")
    (inbox / "cyd").mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        nbformat.write(answer(released, GOOD), inbox / "cyd" / name)
    collected, rejected, *_ = pipeline.collect(ws, "toy", inbox)
    assert collected == ["ann"] and "handed in nothing" in rejected["bob"]
    assert "expected toy.ipynb but found a.ipynb, b.ipynb" in rejected["cyd"]
    assert (ws.submission("ann", "toy") / "toy.ipynb").is_file()


def test_scores(graded):
    results = graded[3]
    assert (results["good"].score, results["good"].max_score) == (3, 3)
    assert results["lms"].score == 3, "a renamed lone notebook is graded under the released name"
    assert results["half"].score == 0 and results["half"].lost() == {"double": 3}
    assert results["blank"].score == 0


def test_hints_reach_the_results(graded):
    half = graded[3]["half"]
    assert [c.diagnostic for c in half.cells] == ["factor", "factor"]
    assert "1/2 of the expected value" in half.cells[0].error


def test_edited_test_cells_are_restored(graded):
    """Replacing the tests with `pass` earns nothing: nbgrader restores locked cells."""
    results = graded[3]
    assert results["tamper"].score == results["half"].score == 0
    assert [c.diagnostic for c in results["tamper"].cells] == ["factor", "factor"]


def test_results_can_be_read_back_from_the_workspace(graded):
    ws, _, _, results = graded
    again = {r.student: r for r in read_results(ws, "toy")}
    assert again.pop("broken").status == "rejected", "a rejected hand-in is listed, not graded"
    assert {s: r.score for s, r in again.items()} == {s: r.score for s, r in results.items()}
    table = format_table(list(again.values()))
    assert "half" in table and "factor" in table and "2 full marks" in table
    assert "tamper: test cells edited" in table


def test_feedback_hides_hidden_tests(graded):
    ws = graded[0]
    pages, failed = pipeline.feedback(ws, "toy", progress=False)
    assert len(pages) == 5 and not failed
    html = (ws.feedback("half", "toy") / "toy.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in html and "np.ones((2, 3))" not in html
    assert "hidden tests ran here" in html and "1/2 of the expected value" in html


def test_export_writes_one_row_per_student(graded, tmp_path):
    path = pipeline.export(graded[0], tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(path.open())}
    assert set(rows) == {"good", "half", "blank", "tamper", "lms", "broken"}
    assert float(rows["good"]["score"]) == 3.0 and float(rows["half"]["score"]) == 0.0


def test_autograde_without_submissions_says_what_to_do(released, tmp_path):
    ws = Workspace(tmp_path / "empty", repo=released.repo)
    pipeline.release(ws, ["toy"], course=tmp_path / "course")
    with pytest.raises(GradlabError, match="gradlab collect"):
        pipeline.autograde(ws, "toy", progress=False)


def test_autograde_of_an_unknown_student_names_the_collected_ones(graded):
    with pytest.raises(GradlabError, match="from nobody.*collected: blank, good"):
        pipeline.autograde(graded[0], "toy", ["nobody"], progress=False)


def test_workspace_must_stay_out_of_the_sources(toy_repo):
    for inside in ("solutions/grading", "course", "."):
        with pytest.raises(ValueError, match="must not be inside"):
            Workspace(toy_repo / inside, repo=toy_repo)


def test_cli_reports_errors_with_exit_code_2(graded, capsys):
    ws = graded[0]
    code = cli.main(["--repo", str(ws.repo), "--workspace", str(ws.root), "release", "nope"])
    assert code == 2 and "no assignment 'nope'" in capsys.readouterr().err


def test_cli_summary_prints_the_table(graded, capsys):
    ws = graded[0]
    assert cli.main(["--repo", str(ws.repo), "--workspace", str(ws.root), "summary", "toy"]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "100.0" in out


def test_a_broken_source_notebook_is_reported_with_nbgraders_reason(tmp_path):
    from .conftest import toy_notebook

    (tmp_path / "lib" / "gradlab").mkdir(parents=True)
    (tmp_path / "solutions" / "bad").mkdir(parents=True)
    nb = toy_notebook()
    for cell in nb.cells:
        if is_answer(cell):
            nbgrader_meta(cell)["solution"] = False  # solution markers outside a solution cell
    nbformat.write(nb, tmp_path / "solutions" / "bad" / "bad.ipynb")
    ws = Workspace(tmp_path / "grading", repo=tmp_path)
    with pytest.raises(GradlabError, match="releasing bad failed: RuntimeError: Solution region detected"):
        pipeline.release(ws, ["bad"], course=tmp_path / "course")
    assert not (tmp_path / "course" / "bad").exists()


def test_feedback_can_show_only_which_hidden_test_failed(graded, capsys):
    ws = graded[0]
    code = cli.main(["feedback", "toy", "-s", "half", "--hidden-tests", "name", "--quiet",
                     "--repo", str(ws.repo), "--workspace", str(ws.root)])
    assert code == 0 and "wrote 1 feedback page under" in capsys.readouterr().out
    html = (ws.feedback("half", "toy") / "toy.html").read_text()
    hidden = html.split('name="test_double_hidden"', 1)[1]
    half = "1/2 of the expected value"
    assert "Hidden test failed" in hidden and half not in hidden, "the hidden test's message shows"
    assert half in html.split('name="test_double_hidden"', 1)[0], "the visible test keeps its message"


def test_a_postgresql_gradebook_leaves_no_sqlite_file(graded):
    """Every step went to the configured gradebook: nothing fell back to a gradebook.db."""
    ws = graded[0]
    assert (ws.root / "gradebook.db").exists() == ws.db_url.startswith("sqlite:")
    with ws.gradebook() as gb:
        assert gb.engine.url.get_backend_name() == ws.db_url.split(":")[0].split("+")[0]
        assert sorted(s.student.id for s in gb.find_assignment("toy").submissions) == \
            ["blank", "good", "half", "lms", "tamper"]


def test_cli_db_option_opens_that_gradebook_and_is_remembered(graded, tmp_path, capsys):
    ws = graded[0]
    if ws.db_url.startswith("sqlite:"):
        pytest.skip("the option matters for a gradebook outside the workspace")
    other = tmp_path / "elsewhere"
    base = ["--repo", str(ws.repo), "--workspace", str(other)]
    assert cli.main([*base, "--db", ws.db_url, "export", "--to", str(tmp_path / "g.csv")]) == 0
    # nbgrader_config.py now names it: the next command needs no --db, and finds the grades
    assert Workspace(other, repo=ws.repo).db_url == ws.db_url
    with Workspace(other, repo=ws.repo).gradebook() as gb:
        scores = {s.student.id: s.score for s in gb.find_assignment("toy").submissions}
    assert scores["good"] == 3.0 and scores["half"] == 0.0
    # a server that does not answer is a clear error, with the password masked
    bad = ws.db_url.replace("gradlab@", "gradlab:s3cret@").rsplit(":", 1)[0] + ":1/none"
    assert cli.main([*base, "--db", bad, "export", "--to", str(tmp_path / "h.csv")]) == 2
    err = capsys.readouterr().err
    assert "could not open the gradebook at postgresql+psycopg2://gradlab:***@127.0.0.1:1/none" in err
    assert "s3cret" not in err and "Traceback" not in err
    assert Workspace(other, repo=ws.repo).db_url == ws.db_url, "a URL that failed is not remembered"
