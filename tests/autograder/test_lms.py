"""LMS downloads in (Canvas and Moodle zips, plain folders) and gradebook CSVs out."""

from __future__ import annotations

import csv
import zipfile
from datetime import datetime, timezone

import pytest

from gradlab_grader import lms

NB = "01_derivatives.ipynb"
ROSTER = [lms.Student("s001", "Jane Doe", "jane@uni.example", "1001"),
          lms.Student("s002", "Omar Haddad", "omar@uni.example", "1002"),
          lms.Student("s003", "Li Wei", "li@uni.example", "1003"),
          lms.Student("s004", "Ana Souza", "ana@uni.example", "1004")]
DEADLINE = (2026, 11, 20, 23, 59, 0)


def _zip(path, entries):
    """entries: (name, text, date_time)"""
    with zipfile.ZipFile(path, "w") as archive:
        for name, text, stamp in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), text)
    return path


def canvas_zip(path):
    return _zip(path, [
        (f"doejane_1001_555001_{NB}", "jane v1", (2026, 11, 19, 10, 0, 0)),
        (f"doejane_1001_555009_01_derivatives-1.ipynb", "jane v2", (2026, 11, 20, 9, 0, 0)),  # resubmitted
        (f"haddadomar_LATE_1002_555002_{NB}", "omar", (2026, 11, 21, 8, 30, 0)),              # late
        (f"weili_1003_555003_my notebook.ipynb", "li", (2026, 11, 20, 12, 0, 0)),             # renamed
        (f"strangerx_9999_555004_{NB}", "who?", (2026, 11, 20, 12, 0, 0)),                    # stray
    ])


def moodle_zip(path):
    return _zip(path, [
        (f"Jane Doe_71_assignsubmission_file_/{NB}", "jane", (2026, 11, 19, 10, 0, 0)),
        (f"Omar Haddad_72_assignsubmission_file_/{NB}", "omar old", (2026, 11, 18, 8, 0, 0)),
        (f"Omar Haddad_72_assignsubmission_file_/backup/{NB}", "omar new", (2026, 11, 21, 8, 0, 0)),
        (f"Li Wei_73_assignsubmission_file_{NB}", "li", (2026, 11, 20, 12, 0, 0)),           # flat
        (f"Someone Else_74_assignsubmission_file_/{NB}", "?", (2026, 11, 20, 12, 0, 0)),     # stray
    ])


def test_canvas_zip_is_matched_to_the_roster(tmp_path):
    got = lms.unpack(canvas_zip(tmp_path / "c.zip"), ROSTER, tmp_path / "out")
    assert got.layout == "canvas"
    assert sorted(got.students) == ["s001", "s002", "s003"]
    assert (got.students["s001"] / NB).read_text() == "jane v2"          # the latest wins
    assert got.duplicates == {"s001": [f"doejane_1001_555001_{NB}"]}
    assert (got.students["s003"] / "my notebook.ipynb").exists()          # collect renames it
    assert got.late == ["s002"]
    assert got.unmatched == [f"strangerx_9999_555004_{NB}"]
    assert got.missing == ["s004"]
    assert got.times["s002"] == datetime(2026, 11, 21, 8, 30, tzinfo=timezone.utc)
    # the submission time survives as the file's time, for collect's timestamp
    assert (got.students["s002"] / NB).stat().st_mtime == got.times["s002"].timestamp()


def test_moodle_zip_folders_and_flat_files(tmp_path):
    got = lms.unpack(moodle_zip(tmp_path / "m.zip"), ROSTER, tmp_path / "out")
    assert got.layout == "moodle"
    assert sorted(got.students) == ["s001", "s002", "s003"]
    assert (got.students["s002"] / NB).read_text() == "omar new"
    assert got.duplicates == {"s002": [f"Omar Haddad_72_assignsubmission_file_/{NB}"]}
    assert got.unmatched == [f"Someone Else_74_assignsubmission_file_/{NB}"]
    assert got.missing == ["s004"]


def test_plain_folder_by_student_id(tmp_path):
    for sid in ("s001", "s004"):
        (tmp_path / "in" / sid).mkdir(parents=True)
        (tmp_path / "in" / sid / NB).write_text(sid)
    (tmp_path / "in" / "nobody").mkdir()
    (tmp_path / "in" / "nobody" / NB).write_text("?")
    got = lms.unpack(tmp_path / "in", ROSTER, tmp_path / "out")
    assert got.layout == "folder" and sorted(got.students) == ["s001", "s004"]
    assert got.unmatched == [f"nobody/{NB}"] and got.missing == ["s002", "s003"]


def test_roster_errors_say_which_line(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("Student ID,Name,Email,LMS ID\ns1,A,a@x,1\ns1,B,b@x,2\n")
    with pytest.raises(lms.RosterError, match="line 3.*appears twice"):
        lms.read_roster(path)
    path.write_text("name,email\nA,a@x\n")
    with pytest.raises(lms.RosterError, match="no student id column"):
        lms.read_roster(path)
    path.write_text("student_id,name,email,lms_id\n../evil,A,a@x,1\n")
    with pytest.raises(lms.RosterError, match="folder name"):
        lms.read_roster(path)
    path.write_text("Student ID,Full name,Email address,LMS id\ns1,Jane Doe,j@x,77\n")
    assert lms.read_roster(path) == [lms.Student("s1", "Jane Doe", "j@x", "77")]


def test_not_a_zip_is_a_clear_error(tmp_path):
    bad = tmp_path / "download.zip"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="not a zip file"):
        lms.unpack(bad, ROSTER, tmp_path / "out")
