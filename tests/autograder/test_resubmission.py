"""A class over time, through the CLI: resubmissions, stale grades, rejections, typos, the export."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from gradlab_grader import Workspace, cli, pipeline
from gradlab_grader.outputs.results import read_results
from gradlab_grader.recording import ledger, submissions

from .conftest import answer, write_inbox

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

GOOD = "def double(x):\n    return 2.0 * np.asarray(x, dtype=float)"
HALF = "def double(x):\n    return np.asarray(x, dtype=float)"
# the student's own hand-in times: nbgrader's exchange format, and a notebook's mtime
EXCHANGE_STAMP = "2026-11-02 09:15:00.000000 UTC"
MTIME = 1_762_000_000  # 2025-11-01 12:26:40 UTC


def gradlab(ws: Workspace, *args: str, capsys) -> tuple[int, str, str]:
    """Run the CLI with the shared options AFTER the command (as instructors type them)."""
    code = cli.main([*args, "--workspace", str(ws.root), "--repo", str(ws.repo), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def _csv(path: Path) -> dict[str, dict[str, str]]:
    return {row["student_id"]: row for row in csv.DictReader(path.open())}


@pytest.fixture(scope="module")
def course(toy_repo, tmp_path_factory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("class") / "ws", repo=toy_repo)
    pipeline.release(ws, ["toy"], course=ws.root.parent / "course")
    return ws


@pytest.fixture(scope="module")
def history(course, released, tmp_path_factory):
    """Week 1: ann (half marks), bob (full), cyd (an empty file). Week 2: ann resubmits a good
    notebook, bob hands in the same file again, cyd still nothing usable. Outputs at each step."""
    ws, seen = course, {}
    first = write_inbox(tmp_path_factory.mktemp("week1"), {"ann": answer(released, HALF),
                                                           "bob": answer(released, GOOD), "cyd": ""})
    (first / "ann" / "timestamp.txt").write_text(EXCHANGE_STAMP)
    os.utime(first / "bob" / "toy.ipynb", (MTIME, MTIME))
    seen["collect1"] = pipeline.collect(ws, "toy", first)
    seen["graded1"] = {r.student: r for r in pipeline.autograde(ws, "toy", progress=False)}
    second = tmp_path_factory.mktemp("week2")
    shutil.copytree(first / "bob", second / "bob")  # the same file, re-downloaded
    write_inbox(second / "tmp", {"ann": answer(released, GOOD)})
    shutil.move(second / "tmp" / "ann", second / "ann")
    (second / "cyd").mkdir()
    (second / "cyd" / "toy.ipynb").write_text("")
    seen["collect2"] = pipeline.collect(ws, "toy", second)
    seen["stale"] = {r.student: r for r in read_results(ws, "toy")}
    seen["stale_csv"] = _csv(pipeline.export(ws, ws.root / "stale.csv"))
    return ws, seen


def test_collect_counts_resubmissions_and_unchanged(history):
    _, seen = history
    assert seen["collect1"].summary("toy") == "collected 2 submissions of toy"
    assert seen["collect2"].summary("toy") == "collected 2 submissions of toy (1 resubmitted, 1 unchanged)"
    assert seen["collect2"].resubmitted == ["ann"] and seen["collect2"].unchanged == ["bob"]


def test_a_resubmission_supersedes_the_old_grade_until_graded(history):
    _, seen = history
    assert seen["graded1"]["ann"].score == 0 and seen["graded1"]["ann"].status == "graded"
    ann, bob = seen["stale"]["ann"], seen["stale"]["bob"]
    assert ann.status == "superseded" and ann.score == 0, "the old grade shows, marked as superseded"
    assert bob.status == "graded", "an identical hand-in leaves the grade current"
    assert seen["stale_csv"]["ann"]["status"] == "superseded"
    assert seen["stale_csv"]["bob"]["status"] == "graded"


def test_the_csv_carries_the_students_hand_in_time(history):
    _, seen = history
    rows = seen["stale_csv"]
    assert rows["ann"]["timestamp"] == "2026-11-02 09:15:00 UTC"  # her exchange timestamp.txt
    assert rows["bob"]["timestamp"] == "time unknown"  # a file's mtime is a copy's, never taken


def test_only_the_resubmission_is_pending(history):
    """What autograde grades next: the changed hand-in, not the identical one."""
    ws, _ = history
    book = ledger.Ledger(ws, "toy")
    assert [s for s in ("ann", "bob") if book.state(s) == ledger.PENDING] == ["ann"]


def test_rejected_hand_ins_show_in_summary_and_export(history, capsys):
    ws, seen = history
    assert seen["stale"]["cyd"].status == "rejected"
    assert "not a valid notebook" in seen["stale"]["cyd"].problems[0]
    row = seen["stale_csv"]["cyd"]
    assert row["status"] == "rejected" and row["needs_review"] == "yes"
    assert "not a valid notebook" in row["review_reason"]
    code, out, _ = gradlab(ws, "summary", "toy", capsys=capsys)
    assert code == 0 and "cyd" in out and "REJECTED" in out and "not a valid notebook" in out


def test_export_has_a_column_per_exercise_and_the_review_flag(history):
    _, seen = history
    rows = seen["stale_csv"]
    assert {"double", "needs_review", "review_reason", "status", "timestamp"} <= set(rows["bob"])
    assert rows["bob"]["double"] == "3" and rows["bob"]["needs_review"] == "no"
    assert rows["ann"]["double"] == "0"


def test_autograde_grades_only_what_changed_then_the_grade_is_current(history, capsys):
    ws, _ = history
    bob_graded = submissions.graded_at(ws, "bob", "toy")
    code, out, _ = gradlab(ws, "autograde", "toy", capsys=capsys)
    assert code == 0
    assert submissions.graded_at(ws, "bob", "toy") == bob_graded, "bob's current grade was not redone"
    results = {r.student: r for r in read_results(ws, "toy")}
    assert results["ann"].status == "graded" and results["ann"].score == 3
    assert "SUPERSEDED" not in out
    code, out, err = gradlab(ws, "autograde", "toy", capsys=capsys)
    assert code == 0 and "graded 0," in err and "already recorded, kept" in err, err
    code, out, _ = gradlab(ws, "autograde", "toy", "--force", capsys=capsys)
    assert submissions.graded_at(ws, "bob", "toy") > bob_graded


# -- a mistyped assignment changes nothing ---------------------------------------------------

def _tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*"))


@pytest.mark.parametrize("command", [["collect", "tyo", "{inbox}"], ["autograde", "tyo"], ["feedback", "tyo"],
                                     ["summary", "tyo"], ["export", "tyo"], ["release", "tyo"]])
def test_a_mistyped_assignment_is_refused_with_a_suggestion(course, released, command, tmp_path, capsys):
    inbox = write_inbox(tmp_path / "inbox", {"ann": answer(released, GOOD)})
    before = _tree(course.root)
    code, out, err = gradlab(course, *[a.format(inbox=inbox) for a in command], capsys=capsys)
    assert code == 2 and "did you mean 'toy'?" in err, err
    assert "wrote" not in out and "collected" not in out
    assert _tree(course.root) == before, "an unknown assignment changed the workspace"


def test_an_empty_inbox_is_an_error(course, tmp_path, capsys):
    (tmp_path / "inbox").mkdir()
    code, out, err = gradlab(course, "collect", "toy", str(tmp_path / "inbox"), capsys=capsys)
    assert code == 2 and "no student folders" in err and "collected" not in out


def test_collect_says_submission_in_the_singular(released, tmp_path, capsys):
    ws = Workspace(tmp_path / "ws", repo=released.repo)
    pipeline.release(ws, ["toy"], course=tmp_path / "course")
    inbox = write_inbox(tmp_path / "inbox", {"ann": answer(released, GOOD)})
    code, out, _ = gradlab(ws, "collect", "toy", str(inbox), capsys=capsys)
    assert code == 0 and "collected 1 submission of toy\n" in out


def test_shared_options_work_before_the_command_too(course, capsys):
    code = cli.main(["--workspace", str(course.root), "--repo", str(course.repo), "summary", "toy"])
    assert code == 0 and "student" in capsys.readouterr().out


def test_rejections_file_is_cleared_by_a_good_hand_in(released, tmp_path):
    ws = Workspace(tmp_path / "ws", repo=released.repo)
    pipeline.release(ws, ["toy"], course=tmp_path / "course")
    pipeline.collect(ws, "toy", write_inbox(tmp_path / "a", {"ann": "{"}))
    assert list(submissions.rejections(ws, "toy")) == ["ann"]
    pipeline.collect(ws, "toy", write_inbox(tmp_path / "b", {"ann": answer(released, GOOD)}))
    assert submissions.rejections(ws, "toy") == {}
    assert [r.status for r in read_results(ws, "toy")] == ["not graded"]
    nbformat.read(ws.submission("ann", "toy") / "toy.ipynb", as_version=4)


def test_a_rejected_resubmission_keeps_the_earlier_grade_and_says_so(released, tmp_path):
    ws = Workspace(tmp_path / "ws", repo=released.repo)
    pipeline.release(ws, ["toy"], course=tmp_path / "course")
    pipeline.collect(ws, "toy", write_inbox(tmp_path / "a", {"ann": answer(released, GOOD)}))
    pipeline.collect(ws, "toy", write_inbox(tmp_path / "b", {"ann": "not json"}))
    (ann,) = read_results(ws, "toy")  # one row: the earlier submission, with the rejection named
    assert ann.status == "not graded"
    assert any("later hand-in" in p and "not a valid notebook" in p for p in ann.problems)
