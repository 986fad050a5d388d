"""The instructor's outputs agree: one status vocabulary, one "has a score" rule, one "needs a
human look" rule, every CSV safe to open in a spreadsheet, and LMS CSVs as the LMSs read them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gradlab_grader import cli, pipeline
from gradlab_grader.outputs import lms
from gradlab_grader.outputs.csvout import safe_cell, write_csv
from gradlab_grader.outputs.results import format_table, read_results
from gradlab_grader.recording import ledger
from gradlab_grader.status import FAILED, GRADED, NOT_GRADED, REJECTED, SUPERSEDED, Status
from gradlab_grader.workspace import Workspace

from .conftest import answer, write_inbox

GOOD = "def double(x):\n    return 2.0 * np.asarray(x, dtype=float)"


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@pytest.fixture
def fresh(released, tmp_path) -> Workspace:
    ws = Workspace(tmp_path / "ws", repo=released.repo)
    pipeline.release(ws, ["toy"], course=tmp_path / "course", bundles=False)
    return ws


# -- one status vocabulary ---------------------------------------------------------------------

def test_the_status_words_are_one_type_and_old_ledgers_still_read():
    assert [s.value for s in Status] == ["graded", "superseded", "not graded", "could not be graded",
                                         "rejected", "pending"]
    assert Status("failed") is FAILED, "a ledger written before says 'failed'"
    assert ledger.FAILED is FAILED and ledger.GRADED is GRADED
    assert [s for s in Status if s.has_score] == [GRADED, SUPERSEDED]
    assert not any(s.has_score for s in (NOT_GRADED, FAILED, REJECTED))


def test_a_student_collected_but_never_graded_is_blank_in_both_exports(fresh, released, tmp_path):
    ws = fresh
    pipeline.collect(ws, "toy", write_inbox(tmp_path / "in", {"ann": answer(released, GOOD)}))
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,email,lms_id\nann,Ann Lee,ann@uni.example,1001\n")
    grades = {r[1]: r for r in _rows(pipeline.export(ws))[1:]}
    header = _rows(pipeline.export(ws))[0]
    canvas = _rows(lms.export_lms(ws, "toy", "canvas", roster).path)
    moodle = _rows(lms.export_lms(ws, "toy", "moodle", roster).path)
    assert grades["ann"][header.index("status")] == "not graded"
    assert grades["ann"][header.index("score")] == "", "no grade is not a zero"
    assert canvas[2][-1] == "" and moodle[1][-1] == ""


@pytest.mark.kernel
def test_status_counts_as_flagged_what_the_summary_lists(fresh, released, tmp_path):
    """One graded student whose code imports os (a flag), one never graded, one rejected: status's
    "flagged" is the number of students the summary lists under "needs a human look"."""
    ws = fresh
    os_answer = "import os\n" + GOOD
    pipeline.collect(ws, "toy", write_inbox(tmp_path / "a", {"ann": answer(released, GOOD),
                                                             "bob": answer(released, os_answer)}))
    pipeline.autograde(ws, "toy", progress=False, sandbox=False)
    with ws.gradebook() as gb:  # the formgrader's "Flagged?" column shows the same rule
        assert {s: gb.find_submission_notebook("toy", "toy", s).flagged for s in ("ann", "bob")} == \
            {"ann": False, "bob": True}
    pipeline.collect(ws, "toy", write_inbox(tmp_path / "b", {"cyd": answer(released, GOOD), "dan": "{"}))
    results = read_results(ws, "toy")
    listed = [r.student for r in results if r.problems]
    assert sorted(listed) == ["bob", "cyd", "dan"], [(r.student, r.problems) for r in results]
    table = pipeline.status(ws, ["toy"])["toy"]
    assert table == {"collected": 3, "graded": 2, "pending": 1, "failed": 0, "rejected": 1, "flagged": 3,
                     "unmatched": 0}
    summary = [line for line in format_table(results).splitlines()
               if line.startswith("  ")]
    assert len(summary) == table["flagged"]


# -- CSV cells a spreadsheet would run ---------------------------------------------------------

@pytest.mark.parametrize("cell, written", [
    ("=HYPERLINK(\"http://x.example\",\"click\")", "'=HYPERLINK(\"http://x.example\",\"click\")"),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"), ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("ann", "ann"), ("O'Brien", "O'Brien"), ("a=b", "a=b"),
    ("-2", "-2"), ("-0.5", "-0.5"), ("+3", "+3"), ("-1e-3", "-1e-3"), (-2.5, "-2.5"), (38.0, "38"),
    (0, "0"), (None, ""), ("", "")])
def test_safe_cell_neutralises_formulas_and_keeps_numbers(cell, written):
    assert safe_cell(cell) == written


def test_grades_csv_and_lms_csvs_neutralise_student_text(fresh, released, tmp_path):
    """A folder named like a formula, and roster names and e-mails like formulas."""
    ws = fresh
    evil = "=1+1"
    pipeline.collect(ws, "toy", write_inbox(tmp_path / "in", {evil: answer(released, GOOD),
                                                              "@x": answer(released, GOOD)}))
    grades = _rows(pipeline.export(ws))
    ids = [r[1] for r in grades[1:]]
    assert sorted(ids) == ["'=1+1", "'@x"], ids
    roster = [lms.Student(evil, "-cmd", "@evil.example", "1001"), lms.Student("@x", "+x", "x@uni.example", "1002")]
    rows = [{"student": evil, "score": 3.0}, {"student": "@x", "score": None}]
    canvas = _rows(lms.write_lms_csv(rows, roster, "canvas", tmp_path / "c.csv", lms.LmsColumn("toy", "7", 3)).path)
    moodle = _rows(lms.write_lms_csv(rows, roster, "moodle", tmp_path / "m.csv", lms.LmsColumn("toy", "7", 3)).path)
    every = [cell for table in (grades, canvas, moodle) for row in table for cell in row]
    assert not [c for c in every if c[:1] in ("=", "+", "@", "\t", "\r") or
                (c.startswith("-") and not c.lstrip("-").replace(".", "").isdigit())], every
    assert canvas[2][-1] == "3.00" and moodle[1][-1] == "3"


def test_write_csv_replaces_the_file_whole(tmp_path):
    path = tmp_path / "out.csv"
    write_csv(path, ["a"], [["1"], ["2"]])
    write_csv(path, ["a"], [["3"]])
    assert _rows(path) == [["a"], ["3"]] and not list(tmp_path.glob(".out.csv*"))


# -- LMS CSVs as the imports read them ---------------------------------------------------------

# roster rows with Canvas's SIS columns, as a Canvas gradebook export gives them
CanvasRosterRow = lms.Student
ROSTER = [CanvasRosterRow("s001", "Doe, Jane", "jane@uni.example", "1001", "SIS-77", "jdoe"),
          CanvasRosterRow("s002", "Haddad, Omar", "omar@uni.example", "1002", "SIS-78", "ohaddad"),
          CanvasRosterRow("s003", "Wei, Li", "", "", "", "")]
ROWS = [{"student": "s001", "score": 38.5}, {"student": "s002", "score": None},
        {"student": "s003", "score": 12.0}, {"student": "stranger", "score": 40.0}]


def test_canvas_csv_is_what_canvas_exports_and_imports(tmp_path):
    """lib/gradebook_exporter.rb's header and Points Possible row; app/models/gradebook_importer.rb
    reads the column as Title (id) and matches students by ID, SIS User ID, SIS Login ID."""
    out = lms.write_lms_csv(ROWS, ROSTER, "canvas", tmp_path / "c.csv", lms.LmsColumn("Week 2: chain rule", "4711", 40))
    table = _rows(out.path)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Week 2: chain rule (4711)"]
    assert table[1] == ["    Points Possible", "", "", "", "", "40.00"]
    assert table[2] == ["Doe, Jane", "1001", "SIS-77", "jdoe", "", "38.50"]
    assert table[3] == ["Haddad, Omar", "1002", "SIS-78", "ohaddad", "", ""], "not graded: blank, not 0"
    assert len(table) == 4
    assert out.written == ["s001", "s002"]
    assert out.left_out == {"s003": "the roster has no Canvas id, SIS user id or SIS login id",
                            "stranger": "not on the roster"}
    # Canvas's own reading of the column name (Assignment.title_and_id)
    import re
    title, ident = re.fullmatch(r"(.*)\s\((\d+)\)", table[0][-1]).groups()
    assert (title, ident) == ("Week 2: chain rule", "4711")


def test_moodle_csv_has_only_rows_moodle_can_map(tmp_path):
    """grade/import/csv/classes/load_data.php aborts the whole import on one unknown or blank user."""
    out = lms.write_lms_csv(ROWS, ROSTER, "moodle", tmp_path / "m.csv", lms.LmsColumn("Chain rule", "", 40))
    table = _rows(out.path)
    assert table == [["Full name", "Email address", "ID number", "Chain rule"],
                     ["Doe, Jane", "jane@uni.example", "SIS-77", "38.5"],
                     ["Haddad, Omar", "omar@uni.example", "SIS-78", ""]]
    assert set(out.left_out) == {"s003", "stranger"} and "email" in out.left_out["s003"]


def test_export_lms_takes_the_column_from_gradlab_toml_and_the_roster_from_collect(fresh, released, tmp_path, capsys):
    ws = fresh
    (ws.root / "gradlab.toml").write_text('[lms.toy]\ntitle = "Doubling"\nid = 4711\n')
    pipeline.collect(ws, "toy", write_inbox(tmp_path / "in", {"ann": answer(released, GOOD),
                                                              "zed": answer(released, GOOD)}))
    (ws.root / "roster.csv").write_text("student_id,name,email,lms_id\nann,Ann Lee,ann@uni.example,1001\n")
    code = cli.main(["export", "--lms", "canvas", "toy", "--workspace", str(ws.root), "--repo", str(ws.repo)])
    out = capsys.readouterr().out
    assert code == 0 and "left out zed: not on the roster" in out and "note:" not in out
    table = _rows(ws.exports / "toy-canvas.csv")
    assert table[0][-1] == "Doubling (4711)" and table[1][-1] == "3.00"
    assert [r[1] for r in table[2:]] == ["1001"]
    (ws.root / "gradlab.toml").write_text('[lms.toy]\nid = "week two"\n')
    with pytest.raises(ValueError, match="digits"):
        lms.export_lms(ws, "toy", "canvas")
    (ws.root / "gradlab.toml").unlink()
    (ws.root / "roster.csv").unlink()
    code = cli.main(["export", "--lms", "moodle", "toy", "--workspace", str(ws.root), "--repo", str(ws.repo)])
    assert code == 2 and "--roster" in capsys.readouterr().err


# -- gradlab.toml, written at the first release ------------------------------------------------

def test_release_writes_a_commented_policy_template_once(released, tmp_path):
    import tomllib

    ws = Workspace(tmp_path / "ws", repo=released.repo)
    pipeline.release(ws, ["toy"], course=tmp_path / "course", bundles=False)
    text = ws.policy_file.read_text()
    assert tomllib.loads(text) == {} and ws.policy() == {}, "everything commented: the defaults hold"
    # every option is there with its default; uncommented, the workspace takes each of them
    options = [line[2:] for line in text.splitlines() if line.startswith("# ") and
               (line[2:].startswith("[") or " = " in line[2:].split("#")[0])]
    policy = tomllib.loads("\n".join(options))
    assert set(policy) == {"late", "deadlines", "grading", "lms"}
    assert policy["late"] == {"percent_per_day": 0, "max_percent": 100}
    assert set(policy["deadlines"]) == {"toy"} and policy["grading"] == {"figures": "auto"}
    assert set(policy["lms"]["toy"]) == {"title", "id"}
    ws.policy_file.write_text("\n".join(options))
    assert ws.policy()["late"]["max_percent"] == 100 and not ws.draws_figures("toy")
    assert lms.lms_column(ws, "toy", 3).canvas_header.startswith(policy["lms"]["toy"]["title"])
    # an instructor's own file is never replaced
    ws.policy_file.write_text("[late]\npercent_per_day = 5\n")
    pipeline.release(ws, ["toy"], course=tmp_path / "course", bundles=False)
    assert ws.policy_file.read_text() == "[late]\npercent_per_day = 5\n"


# -- feedback, round two ----------------------------------------------------------------------

@pytest.mark.kernel
def test_round_two_feedback_rewrites_only_what_changed(fresh, released, tmp_path, capsys):
    HALF = "def double(x):\n    return np.asarray(x, dtype=float)"
    ws = fresh
    pipeline.collect(ws, "toy", write_inbox(tmp_path / "a", {"ann": answer(released, HALF),
                                                             "bob": answer(released, GOOD)}))
    pipeline.autograde(ws, "toy", progress=False, sandbox=False)
    pages, failed = pipeline.feedback(ws, "toy", progress=False)
    assert len(pages) == 2 and not failed
    stamps = {p.parent.parent.name: p.stat().st_mtime_ns for p in pages}
    pipeline.collect(ws, "toy", write_inbox(tmp_path / "b", {"ann": answer(released, GOOD)}))  # ann resubmits
    pipeline.autograde(ws, "toy", progress=False, sandbox=False)
    pages, failed = pipeline.feedback(ws, "toy", progress=False)
    assert [p.parent.parent.name for p in pages] == ["ann"] and not failed
    assert ws.feedback("bob", "toy").joinpath("toy.html").stat().st_mtime_ns == stamps["bob"]
    assert "Score: 3.0 / 3.0" in pages[0].read_text()
    # a grade changed by hand in the gradebook (the formgrader) changes the page too
    with ws.gradebook() as gb:
        grade = gb.find_grade("test_double_hidden", "toy", "toy", "bob")
        grade.manual_score = 1.0
        gb.db.commit()
    pages, _ = pipeline.feedback(ws, "toy", progress=False)
    assert [p.parent.parent.name for p in pages] == ["bob"] and "Score: 2.0 / 3.0" in pages[0].read_text()
    assert pipeline.feedback(ws, "toy", progress=False) == ([], {})
    code = cli.main(["feedback", "toy", "--workspace", str(ws.root), "--repo", str(ws.repo), "--quiet"])
    assert code == 0 and "wrote 0 feedback pages under" in (out := capsys.readouterr().out) and "2 unchanged" in out
    pages, _ = pipeline.feedback(ws, "toy", ["bob"], progress=False)  # asked for by name: written
    assert len(pages) == 1


# -- nbgrader's own tools on the workspace (the formgrader of make lab-instructor) --------------

def test_nbgrader_finds_its_exchange_in_the_workspace(fresh, caplog):
    """Without one, every NbGraderAPI (17 on one formgrader page) logs "Unwritable directory" and
    the formgrader shows an exchange-directory banner."""
    from gradlab_grader.workspace import nbgrader_calls

    with nbgrader_calls():
        api = fresh.api()
    assert not api.exchange_missing and api.exchange_root == str(fresh.root / "exchange")
    assert "Unwritable directory" not in caplog.text
    assert "c.Exchange.root = " in (fresh.root / "nbgrader_config.py").read_text()
