"""A week's hand-ins through ``gradlab collect``: LMS downloads into a workspace, true hand-in
times, late penalties on every path, what matched nobody kept in sight, links refused."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timedelta, timezone

import nbformat
import pytest

from gradlab_grader import Workspace, cli, pipeline
from gradlab_grader.outputs import lms
from gradlab_grader.outputs.results import format_table, read_results
from gradlab_grader.recording import submissions

from .conftest import answer, write_inbox
from .test_lms import canvas_name

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

GOOD = "def double(x):\n    return 2.0 * np.asarray(x, dtype=float)"
DUE = datetime(2026, 11, 20, 23, 59, tzinfo=timezone.utc)
BUILT = (2026, 12, 1, 9, 0, 0)  # when the LMS built the zip: days after the deadline


@pytest.fixture
def ws(released, tmp_path) -> Workspace:
    ws = Workspace(tmp_path / "ws", repo=released.repo)
    pipeline.release(ws, ["toy"], course=tmp_path / "course")
    ws.policy_file.write_text("[late]\npercent_per_day = 10\n"
                              f"[deadlines]\ntoy = {DUE.strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
    return ws


def _roster(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("student_id,name,email,lms_id\ns1,Bob Müller,bob@x,102\n"
                    "s2,Inés García López,ines@x,109\ns3,Ana Souza,ana@x,113\n")
    return path


def _canvas_download(ws, tmp_path):
    notebook = nbformat.writes(answer(ws, GOOD)).encode()
    with zipfile.ZipFile(tmp_path / "canvas.zip", "w") as archive:
        for name, data in [(canvas_name("Müller, Bob", 102, 1, "toy.ipynb"), notebook),
                           (canvas_name("García López, Inés", 109, 2, "toy.ipynb", late=True), notebook),
                           (canvas_name("Souza, Ana", 113, 3, "report.pdf"), b"%PDF-1.4"),
                           (canvas_name(None, 0, 4, "toy.ipynb", anonymous_id="x7Yz2"), notebook)]:
            archive.writestr(zipfile.ZipInfo(name, date_time=BUILT), data)
    return tmp_path / "canvas.zip"


def _gradlab(ws, *args, capsys):
    code = cli.main(["--workspace", str(ws.root), "--repo", str(ws.repo), "--quiet", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_canvas_week_through_the_cli(ws, tmp_path, capsys):
    roster, download = _roster(tmp_path), _canvas_download(ws, tmp_path)
    code, out, _ = _gradlab(ws, "collect", "toy", str(download), "--roster", str(roster), capsys=capsys)
    assert code == 0, "a rejected hand-in is a normal outcome"
    assert "collected 2 submissions of toy" in out
    assert "rejected s3: handed in report.pdf, no notebook" in out and ".lms-" not in out
    assert "unmatched anon_x7Yz2" in out and "--map anon_x7Yz2=STUDENT" in out
    assert "hand-in time unknown (no late penalty; pass --times to apply one): s1, s2" in out
    # never a time from the zip: no timestamp was written
    assert submissions.read_timestamp(ws.submission("s1", "toy")) is None
    # the roster is kept for later commands, in plain columns
    assert [s.id for s in lms.read_roster(ws.root / "roster.csv")] == ["s1", "s2", "s3"]
    # what matched nobody stays in sight
    code, out, _ = _gradlab(ws, "status", capsys=capsys)
    assert "unmatched" in out.splitlines()[0] and out.splitlines()[1].split()[-1] == "1"
    code, out, _ = _gradlab(ws, "summary", "toy", capsys=capsys)
    assert "unmatched anon_x7Yz2" in out
    results = {r.student: r for r in read_results(ws, "toy")}
    assert any("marked this hand-in late, but its time is unknown" in p for p in results["s2"].problems)
    assert not any("late" in p for p in results["s1"].problems)
    # the instructor maps the anonymous id, and gives Canvas's submission times
    times = tmp_path / "submissions.json"
    times.write_text(json.dumps([{"user_id": 102, "submitted_at": "2026-11-20T20:00:00Z", "late": False},
                                 {"user_id": 109, "submitted_at": "2026-11-22T08:00:00Z", "late": True},
                                 {"anonymous_id": "x7Yz2", "submitted_at": "2026-11-19T08:00:00Z"}]))
    code, out, _ = _gradlab(ws, "collect", "toy", str(download), "--roster", str(roster), "--times", str(times),
                            "--map", "anon_x7Yz2=s3", capsys=capsys)
    assert code == 0 and "unmatched" not in out
    assert submissions.read_timestamp(ws.submission("s2", "toy")) == datetime(2026, 11, 22, 8, tzinfo=timezone.utc)
    assert submissions.read_timestamp(ws.submission("s3", "toy")) == datetime(2026, 11, 19, 8, tzinfo=timezone.utc)
    assert submissions.lms_state(ws, "toy")["map"] == {"anon_x7Yz2": "s3"}
    assert submissions.lms_state(ws, "toy")["notes"] == {}, "the time is known now"
    code, out, _ = _gradlab(ws, "status", capsys=capsys)
    assert out.splitlines()[1].split()[-1] == "0"


def test_a_mapping_to_someone_off_the_roster_is_refused(ws, tmp_path, capsys):
    code, _, err = _gradlab(ws, "collect", "toy", str(_canvas_download(ws, tmp_path)), "--roster",
                            str(_roster(tmp_path)), "--map", "anon_x7Yz2=s99", capsys=capsys)
    assert code == 2 and "not on the roster: anon_x7Yz2=s99" in err


def test_late_penalty_on_the_plain_folder_path(ws, tmp_path):
    """gradlab.toml's deadline reaches the gradebook however the hand-in came: four days late
    through a plain folder (nbgrader's timestamp.txt) loses 4 × 10 %."""
    inbox = write_inbox(tmp_path / "inbox", {"late": answer(ws, GOOD), "ontime": answer(ws, GOOD),
                                             "unknown": answer(ws, GOOD)})
    for who, when in (("late", DUE + timedelta(days=3, hours=20)), ("ontime", DUE - timedelta(hours=1))):
        submissions.write_timestamp(inbox / who, when)
    pipeline.collect(ws, "toy", inbox)
    results = {r.student: r for r in pipeline.autograde(ws, "toy", progress=False, workers=1)}
    assert results["ontime"].late_penalty == 0 and results["ontime"].final == results["ontime"].max_score
    assert results["late"].score == results["late"].max_score
    assert results["late"].late_penalty == pytest.approx(0.4 * results["late"].max_score)
    assert results["unknown"].late_penalty == 0 and results["unknown"].submitted_at == ""
    assert "hand-in time unknown (no late penalty): unknown" in format_table(list(results.values()))
    with ws.gradebook() as gb:
        assert gb.find_assignment("toy").duedate == DUE.replace(tzinfo=None)
        # a grade given by hand afterwards (the formgrader): the penalty follows the new score
        grade = gb.find_grade("test_double_hidden", "toy", "toy", "late")
        grade.manual_score = 0.0
        gb.db.commit()
        points = gb.find_submission("toy", "late").score
    late = read_results(ws, "toy")[0]
    assert late.student == "late" and late.score == points == results["late"].max_score - 2
    assert late.late_penalty == pytest.approx(0.4 * points)


def test_links_in_an_inbox_are_refused(ws, tmp_path):
    inbox = write_inbox(tmp_path / "inbox", {"honest": answer(ws, GOOD)})
    solution = tmp_path / "solution.ipynb"
    nbformat.write(answer(ws, GOOD), solution)
    (inbox / "linker").mkdir()
    (inbox / "linker" / "toy.ipynb").symlink_to(solution)
    (inbox / "copycat").symlink_to(inbox / "honest")
    collected = pipeline.collect(ws, "toy", inbox)
    assert collected.students == ["honest"]
    assert "toy.ipynb is a symbolic link" in collected.rejected["linker"]
    assert "symbolic link" in collected.rejected["copycat"]
    assert not ws.submission("linker", "toy").exists() and not ws.submission("copycat", "toy").exists()


CRASHES_ON_A_MATRIX = ("def double(x):\n    x = np.asarray(x, dtype=float)\n    if x.ndim == 2:\n"
                       "        __import__('os')._exit(1)\n    return 2 * x")


def test_a_grade_given_by_hand_clears_its_cells_flag(ws, tmp_path):
    """A test cell that stopped the kernel scores 0 and asks for a human look; once the
    instructor grades that cell by hand (the formgrader), the flag about it is gone."""
    inbox = write_inbox(tmp_path / "inbox", {"crash": answer(ws, CRASHES_ON_A_MATRIX)})
    pipeline.collect(ws, "toy", inbox)
    [result] = pipeline.autograde(ws, "toy", progress=False, workers=1)
    crashed = [p for p in result.problems if "stopped the kernel" in p]
    assert crashed and "test_double_hidden" in crashed[0]
    with ws.gradebook() as gb:
        grade = gb.find_grade("test_double_hidden", "toy", "toy", "crash")
        grade.manual_score = 1.0
        gb.db.commit()
    [again] = read_results(ws, "toy")
    assert not [p for p in again.problems if "stopped the kernel" in p], again.problems
