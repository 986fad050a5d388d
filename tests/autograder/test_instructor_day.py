"""An instructor's day on the bundled class: LMS zips in, grades with late penalties, LMS CSVs
out, and the class report — checked against the gradebook."""

from __future__ import annotations

import csv
import json
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from gradlab_grader import Workspace, cli, pipeline
from gradlab_grader.demo import write_inbox
from gradlab_grader.outputs import lms, report
from gradlab_grader.outputs.results import read_results

from conftest import REPO, gradebook_url

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

ASSIGNMENT = "01_derivatives"
NB = f"{ASSIGNMENT}.ipynb"
DUE = datetime(2026, 11, 20, 23, 59, tzinfo=timezone.utc)
ROSTER = [lms.Student("s01", "Ada Perfect", "ada@uni.example", "7001"),
          lms.Student("s02", "Max Half", "max@uni.example", "7002"),
          lms.Student("s03", "Tia Transposed", "tia@uni.example", "7003"),
          lms.Student("s04", "Ned Absent", "ned@uni.example", "7004")]


def _stamp(when: datetime):
    return when.astimezone(timezone.utc).timetuple()[:6]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def day(request, tmp_path_factory):
    """Canvas's zip of the bundled class: Ada on time; Max 1.5 days late (Canvas marks it);
    Tia hands in twice (the untouched release, then a transposed Jacobian: the latest wins);
    Ned hands in nothing; a stray file from someone not on the roster.  The gradebook in
    SQLite, and again in a real PostgreSQL server (due dates and submission times included)."""
    root = tmp_path_factory.mktemp("day")
    ws = Workspace(root / "ws", repo=REPO, db_url=gradebook_url(request, "day"))
    pipeline.release(ws, [ASSIGNMENT], course=root / "course")
    write_inbox(ws, ASSIGNMENT, root / "inbox")
    read = lambda who: (root / "inbox" / who / NB).read_bytes()  # noqa: E731
    entries = [(f"perfectada_7001_9001_{NB}", read("perfect"), DUE - timedelta(hours=3)),
               (f"halfmax_LATE_7002_9002_{NB}", read("missing_half"), DUE + timedelta(hours=36)),
               (f"transposedtia_7003_9003_{NB}", read("untouched"), DUE - timedelta(days=2)),
               ("transposedtia_7003_9013_01_derivatives-1.ipynb", read("transposed"), DUE - timedelta(hours=1)),
               (f"strangerx_7999_9004_{NB}", read("perfect"), DUE)]
    download = root / "canvas.zip"
    built = DUE + timedelta(days=5)  # Canvas stamps every entry with the time it built the zip
    with zipfile.ZipFile(download, "w") as archive:
        for name, data, _ in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=_stamp(built)), data)
    # the true times: Canvas's Submissions API JSON (user_id, submitted_at of the latest attempt)
    times = root / "submissions.json"
    latest = {}
    for name, _, when in entries:
        user = lms.CANVAS.match(name)["lms_id"]
        latest[user] = max(when, latest.get(user, when))
    times.write_text(json.dumps([{"user_id": int(u), "submitted_at": w.strftime("%Y-%m-%dT%H:%M:%SZ")}
                                 for u, w in latest.items()]))
    roster = root / "roster.csv"
    with roster.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "name", "email", "lms_id"])
        writer.writerows([s.id, s.name, s.email, s.lms_id] for s in ROSTER)
    ws.policy_file.write_text("[late]\npercent_per_day = 10\nmax_percent = 50\n"
                              f"[deadlines]\n{ASSIGNMENT} = {DUE.strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
    unpacked, collected = pipeline.collect_download(ws, ASSIGNMENT, download, roster, times=times)
    results = {r.student: r for r in pipeline.autograde(ws, ASSIGNMENT, progress=False)}
    return ws, root, roster, unpacked, collected, results


def test_canvas_download_is_matched_and_reported(day):
    _, _, _, unpacked, collected, _ = day
    assert unpacked.layout == "canvas"
    assert sorted(collected.students) == ["s01", "s02", "s03"]
    assert unpacked.duplicates == {"s03": [f"transposedtia_7003_9003_{NB}"]}
    assert unpacked.unmatched == [f"strangerx_7999_9004_{NB}"]
    assert unpacked.missing == ["s04"] and unpacked.late == ["s02"]


def test_grades_with_the_late_penalty(day):
    ws, *_, results = day
    assert results["s01"].score == 40                       # on time, perfect
    assert results["s03"].score == 35                       # the later, transposed version
    with ws.gradebook() as gb:
        late = gb.find_submission(ASSIGNMENT, "s02")
        assert late.total_seconds_late == pytest.approx(36 * 3600)
        # 2 started days late at 10 % a day: 20 % of the 35 points earned
        assert late.late_submission_penalty == pytest.approx(7.0) and late.score == 35
        assert gb.find_submission(ASSIGNMENT, "s01").late_submission_penalty in (0, None)
    assert results["s02"].final == pytest.approx(28.0) and results["s02"].percent == pytest.approx(70.0)


@pytest.mark.parametrize("kind", ["canvas", "moodle"])
def test_lms_csv_from_the_cli(day, kind):
    ws, root, roster, *_ = day
    dest = root / f"{kind}.csv"
    assert cli.main(["--workspace", str(ws.root), "--repo", str(REPO), "export", "--lms", kind,
                     "--roster", str(roster), "--to", str(dest), ASSIGNMENT]) == 0
    table = list(csv.reader(dest.open()))
    with ws.gradebook() as gb:
        expected = {s: gb.find_submission(ASSIGNMENT, s).score
                    - (gb.find_submission(ASSIGNMENT, s).late_submission_penalty or 0)
                    for s in ("s01", "s02", "s03")}
    assert expected == {"s01": 40, "s02": 28, "s03": 35}
    # the LMS knows students by its own ids (Canvas) or their e-mail (Moodle), never gradlab's id
    by_lms = {s.lms_id: s.id for s in ROSTER} | {s.email: s.id for s in ROSTER}
    if kind == "canvas":
        assert table[0][:2] == ["Student", "ID"] and table[1][0].strip() == "Points Possible"
        rows = table[2:]
    else:
        assert table[0] == ["Full name", "Email address", "ID number", ASSIGNMENT]
        rows = table[1:]
    got = {by_lms[row[1]]: float(row[-1]) for row in rows if row[-1]}
    assert got == expected


def test_report_numbers_agree_with_the_gradebook(day):
    ws, *_ = day
    path, text = report.write_report(ws, ASSIGNMENT)
    numbers = report.analyse(read_results(ws, ASSIGNMENT))
    with ws.gradebook() as gb:
        for student, score in numbers.scores.items():
            graded = gb.find_submission(ASSIGNMENT, student)
            assert score == pytest.approx(graded.score - (graded.late_submission_penalty or 0))
    assert numbers.lost_per_exercise == {"numerical_gradient": 5, "jacobian": 5}
    assert {c.code for c in numbers.clusters} == {"factor", "shape"}
    page = path.read_text()
    assert "Class report: 01_derivatives" in page and "numerical_gradient" in page
    assert "of 3 current grades" in text
