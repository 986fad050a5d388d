"""LMS downloads in (Canvas and Moodle zips as those systems name and stamp them, plain folders),
rosters and submission times as the LMSs export them, and gradebook CSVs out."""

from __future__ import annotations

import json
import re
import unicodedata
import zipfile
from datetime import datetime, timezone

import pytest

from gradlab_grader.outputs import lms

NB = "01_derivatives.ipynb"
# the moment the LMS built the zip: rubyzip and Moodle's zip_writer stamp every entry with it
BUILT = (2026, 12, 1, 9, 0, 0)


# -- the LMSs' own naming, written after their source ------------------------------------------

def _ruby_word_only(text: str) -> str:
    """Ruby's ``gsub(/[^[[:word:]]]/, "")``: keeps letters, marks, decimal digits and connector
    punctuation (Onigmo's Unicode [[:word:]])."""
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LM"
                   or unicodedata.category(ch) in ("Nd", "Pc"))


def canvas_name(sortable: str | None, user_id, attachment_id, display_name: str, late=False,
                anonymous_id: str | None = None) -> str:
    """Canvas's file name (lib/content_zipper.rb: get_user_name, get_filename,
    add_upload_submission, sanitize_attachment_filename)."""
    uploaded = re.sub(r'[\x00/\\:*?"<>|]+', "_", display_name)
    return f"{_canvas_prefix(sortable, user_id, late, anonymous_id)}_{attachment_id}_{uploaded}"


def _canvas_prefix(sortable, user_id, late=False, anonymous_id=None) -> str:
    """get_filename: [name, "LATE", id] joined by "_", non-word characters removed."""
    users_name = None
    if sortable is not None and anonymous_id is None:
        users_name = re.sub(r"_(\d+)_", r"\1", sortable).lower()
    ident = f"anon_{anonymous_id}" if anonymous_id else str(user_id)
    return _ruby_word_only("_".join(p for p in (users_name, "LATE" if late else None, ident) if p))


def moodle_path(fullname: str, participant: int, file: str, layout: str = "4.1") -> str:
    """Moodle's path in the zip (mod/assign/classes/downloader.php: get_student_prefix,
    load_submissionplugin_filelist; 3.x locallib.php ended the folder with "_")."""
    prefix = re.sub(r'[\\/:*?"<>|]', "", fullname.replace("_", " ") + f"_{participant}")
    if layout == "4.1":
        return f"{prefix}_assignsubmission_file/{file}"
    if layout == "3.x":
        return f"{prefix}_assignsubmission_file_/{file}"
    return f"{prefix}_assignsubmission_file_{file}"


def _zip(path, entries):
    """entries: (name, bytes or text); every entry stamped with the build time, as the LMSs do."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=BUILT), data)
    return path


ROSTER = [lms.Student("s101", "Bob Müller", "bob@uni.example", "102"),
          lms.Student("s109", "Inés García López", "ines@uni.example", "109"),
          lms.Student("s110", "Ярослав Коваленко", "yk@uni.example", "110"),
          lms.Student("s111", "प्रिया शर्मा", "priya@uni.example", "111"),
          lms.Student("s112", "伟 李", "li@uni.example", "112"),
          lms.Student("s113", "Ana Souza", "ana@uni.example", "113")]


def canvas_class_zip(path):
    return _zip(path, [
        (canvas_name("Müller, Bob", 102, 5001, NB), "bob v1"),
        (canvas_name("Müller, Bob", 102, 5011, "01_derivatives-1.ipynb"), "bob v2"),   # re-uploaded
        (canvas_name("García López, Inés", 109, 5002, NB, late=True), "ines"),
        (canvas_name("Коваленко, Ярослав", 110, 5003, NB), "yaroslav"),
        (canvas_name("शर्मा, प्रिया", 111, 5004, "my notebook.ipynb"), "priya"),
        (canvas_name("李, 伟", 112, 5005, NB), "li"),
        (canvas_name("Stranger, X", 9999, 5006, NB), "who?"),                    # on no roster
        (canvas_name("Müller, Bob", 102, 5007, ".."), "a file named .."),          # odd upload
        (_canvas_prefix("Souza, Ana", 113) + "_text.html", "<p>typed in</p>"),  # add_text_or_url
        ("../../escaped.ipynb", "traversal"),
        ("README.txt", "a loose file"),
    ])


def test_canvas_names_match_what_canvas_writes():
    """The fixture's names are Canvas's, checked against names seen in real downloads."""
    assert canvas_name("Müller, Bob", 102, 5001, NB) == f"müllerbob_102_5001_{NB}"
    assert canvas_name("García López, Inés", 109, 5002, NB, late=True) == f"garcíalópezinés_LATE_109_5002_{NB}"
    assert canvas_name(None, 0, 77, NB, late=True, anonymous_id="x7Yz2") == f"LATE_anon_x7Yz2_77_{NB}"
    assert moodle_path("Jane Doe", 71, NB) == f"Jane Doe_71_assignsubmission_file/{NB}"


def test_canvas_download_file_by_file(tmp_path):
    out = tmp_path / "out"
    got = lms.unpack(canvas_class_zip(tmp_path / "c.zip"), ROSTER, out)
    assert got.layout == "canvas"
    assert sorted(got.students) == ["s101", "s109", "s110", "s111", "s112", "s113"]
    assert (got.students["s101"] / NB).read_text() == "bob v2"          # the re-upload wins
    assert got.duplicates == {"s101": [canvas_name("Müller, Bob", 102, 5001, NB)]}
    assert (got.students["s111"] / "my notebook.ipynb").read_text() == "priya"  # collect renames it
    assert (got.students["s110"] / NB).read_text() == "yaroslav"
    assert got.late == ["s109"] and got.missing == []
    assert (got.students["s113"] / "text.html").read_text() == "<p>typed in</p>"
    assert got.unmatched == ["README.txt", canvas_name("Stranger, X", 9999, 5006, NB)]
    assert set(got.refused) == {canvas_name("Müller, Bob", 102, 5007, ".."), "../../escaped.ipynb"}
    # nothing escaped the destination, and no time was taken from the zip
    assert not (tmp_path / "escaped.ipynb").exists() and not (out.parent / "escaped.ipynb").exists()
    assert all(p.resolve().is_relative_to(out.resolve()) for p in out.rglob("*"))
    assert got.times == dict.fromkeys(got.students) and not list(out.rglob("timestamp.txt"))


def test_canvas_anonymous_ids_wait_for_a_mapping(tmp_path):
    download = _zip(tmp_path / "anon.zip", [
        (canvas_name(None, 0, 801, NB, anonymous_id="x7Yz2"), "first"),
        (canvas_name(None, 0, 802, NB, late=True, anonymous_id="Qp3rT"), "second")])
    got = lms.unpack(download, ROSTER, tmp_path / "a")
    assert got.students == {} and sorted(got.keys.values()) == ["anon_Qp3rT", "anon_x7Yz2"]
    assert got.keys[canvas_name(None, 0, 802, NB, late=True, anonymous_id="Qp3rT")] == "anon_Qp3rT"
    assert "anonymous" in got.why["anon_x7Yz2"]
    got = lms.unpack(download, ROSTER, tmp_path / "b", mapping={"anon_x7Yz2": "s113", "anon_Qp3rT": "s101"})
    assert (got.students["s113"] / NB).read_text() == "first" and got.late == ["s101"]
    got = lms.unpack(download, ROSTER, tmp_path / "c", mapping={"anon_x7Yz2": "s113"}, dropped={"anon_Qp3rT"})
    assert list(got.students) == ["s113"] and got.unmatched == []


MOODLE_ROSTER = [lms.Student("s1", "Jane Doe", "jane@uni.example", "71"),
                 lms.Student("s2", "Omar Haddad", "omar@uni.example", "72"),
                 lms.Student("s3", "Zoë Ångström", "zoe@uni.example", "73")]


@pytest.mark.parametrize("layout", ["4.1", "3.x", "flat"])
def test_moodle_layouts(tmp_path, layout):
    download = _zip(tmp_path / "m.zip", [
        (moodle_path("Jane Doe", 71, NB, layout), "jane"),
        (moodle_path("Zoë Ångström", 73, NB, layout), "zoe"),
        (moodle_path("Someone Else", 74, NB, layout), "?")])
    got = lms.unpack(download, MOODLE_ROSTER, tmp_path / "out")
    assert got.layout == "moodle"
    assert {s: (f / NB).read_text() for s, f in got.students.items()} == {"s1": "jane", "s3": "zoe"}
    assert got.unmatched == [moodle_path("Someone Else", 74, NB, layout)] and got.missing == ["s2"]
    assert got.keys[got.unmatched[0]] == "Participant_74"


def test_moodle_blind_marking_by_participant_id(tmp_path):
    download = _zip(tmp_path / "blind.zip", [
        (moodle_path("Participant", 72, NB), "omar"),
        (moodle_path("Participant", 72, f"backup/{NB}"), "omar's backup"),  # a subfolder he uploaded
        (moodle_path("Participant", 99, NB), "unknown")])
    got = lms.unpack(download, MOODLE_ROSTER, tmp_path / "out")
    assert (got.students["s2"] / NB).read_text() == "omar"   # the file at the folder's top wins
    assert got.duplicates == {"s2": [moodle_path("Participant", 72, f"backup/{NB}")]}
    assert got.keys == {moodle_path("Participant", 99, NB): "Participant_99"}
    assert "anonymous" in got.why["Participant_99"]


def test_a_display_name_never_takes_another_students_work(tmp_path):
    """A participant who renamed themselves "Jane Doe" does not replace Jane's work: ids decide;
    without ids on the roster, two participants by one name are reported, not guessed."""
    download = _zip(tmp_path / "m.zip", [(moodle_path("Jane Doe", 71, NB), "jane's"),
                                         (moodle_path("Jane Doe", 79, NB), "mallory's")])
    roster = MOODLE_ROSTER + [lms.Student("s9", "Mallory Mole", "m@uni.example", "79")]
    got = lms.unpack(download, roster, tmp_path / "ids")
    assert {s: (f / NB).read_text() for s, f in got.students.items()} == {"s1": "jane's"}
    assert "not guessed" in got.why["Participant_79"]
    got = lms.unpack(download, MOODLE_ROSTER, tmp_path / "off-roster")  # Mallory is on no roster
    assert {s: (f / NB).read_text() for s, f in got.students.items()} == {"s1": "jane's"}
    assert "s1 on the roster also has files under Participant_71" in got.why["Participant_79"]
    no_ids = [lms.Student(s.id, s.name, s.email) for s in roster]
    got = lms.unpack(download, no_ids, tmp_path / "names")
    assert got.students == {} and len(got.unmatched) == 2
    assert all("not guessed" in got.why[k] for k in ("Participant_71", "Participant_79"))


def test_two_students_of_one_name_are_reported(tmp_path):
    roster = [lms.Student("a1", "Li Wei"), lms.Student("a2", "Li Wei"), lms.Student("a3", "Jane Doe", lms_id="1001")]
    download = _zip(tmp_path / "c.zip", [(canvas_name("Wei, Li", 4001, 1, NB), "?"),
                                         (canvas_name("Doe, Jane", 2002, 2, NB), "another Jane")])
    got = lms.unpack(download, roster, tmp_path / "out")
    assert got.students == {}
    assert "a1 and a2" in got.why["4001"]
    assert "match no roster student" in got.why["2002"], "a name never overrides Jane's Canvas id"


def test_plain_folder_by_student_id_with_its_timestamp(tmp_path):
    for sid in ("s1", "s3"):
        (tmp_path / "in" / sid).mkdir(parents=True)
        (tmp_path / "in" / sid / NB).write_text(sid)
    (tmp_path / "in" / "s1" / "timestamp.txt").write_text("2026-11-19 10:00:00.000000 UTC")
    (tmp_path / "in" / "nobody").mkdir()
    (tmp_path / "in" / "nobody" / NB).write_text("?")
    (tmp_path / "in" / "s2").symlink_to(tmp_path / "in" / "s1")
    got = lms.unpack(tmp_path / "in", MOODLE_ROSTER, tmp_path / "out")
    assert got.layout == "folder" and sorted(got.students) == ["s1", "s3"]
    assert got.unmatched == [f"nobody/{NB}"] and got.missing == ["s2"]
    assert "link" in got.refused["s2"]
    assert got.times == {"s1": datetime(2026, 11, 19, 10, tzinfo=timezone.utc), "s3": None}


# -- hand-in times as the LMSs export them ---------------------------------------------------

def test_canvas_submissions_json_gives_the_times(tmp_path):
    """The Submissions API's JSON (lib/api/v1/submission.rb: user_id, submitted_at, late)."""
    times = tmp_path / "submissions.json"
    times.write_text(json.dumps([
        {"id": 1, "user_id": 102, "submitted_at": "2026-11-20T22:10:05Z", "late": False, "seconds_late": 0},
        {"id": 2, "user_id": 109, "submitted_at": "2026-11-23T08:00:00Z", "late": True, "seconds_late": 201660},
        {"id": 3, "user_id": 113, "submitted_at": None, "workflow_state": "unsubmitted"}]))
    got = lms.unpack(canvas_class_zip(tmp_path / "c.zip"), ROSTER, tmp_path / "out", lms.read_times(times))
    assert got.times["s101"] == datetime(2026, 11, 20, 22, 10, 5, tzinfo=timezone.utc)
    assert got.times["s109"] == datetime(2026, 11, 23, 8, tzinfo=timezone.utc)
    assert got.times["s110"] is None
    # collect reads it as nbgrader's exchange writes it
    assert (got.students["s109"] / "timestamp.txt").read_text() == "2026-11-23 08:00:00.000000 UTC"


MOODLE_WORKSHEET = ("Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
                    "Last modified (submission),Last modified (grade),Feedback comments\n"
                    "Participant 71,Jane Doe,jane@uni.example,Submitted for grading,,40.00,Yes,"
                    '"Friday, 20 November 2026, 11:05 PM",-,\n'
                    "Participant 80,Omar Haddad,omar@uni.example,Submitted for grading,,40.00,Yes,"
                    '"Tuesday, 24 November 2026, 9:30 AM",-,\n'
                    "Participant 73,Zoë Ångström,zoe@uni.example,No submission,,40.00,Yes,-,-,\n")


def test_moodle_grading_worksheet_gives_times_and_participant_ids(tmp_path):
    """mod/assign/gradingtable.php's worksheet: times in the teacher's zone, "Participant <id>"."""
    sheet = tmp_path / "Grades-worksheet.csv"
    sheet.write_text(MOODLE_WORKSHEET)
    with pytest.raises(lms.RosterError, match="--timezone"):
        lms.read_times(sheet)
    hand_ins = lms.read_times(sheet, "Europe/Berlin")
    download = _zip(tmp_path / "m.zip", [(moodle_path("Jane Doe", 71, NB), "jane"),
                                         (moodle_path("Participant", 80, NB), "omar, blind")])
    roster = [lms.Student(s.id, s.name, s.email) for s in MOODLE_ROSTER]  # no participant ids
    got = lms.unpack(download, roster, tmp_path / "out", hand_ins)
    assert got.times == {"s1": datetime(2026, 11, 20, 22, 5, tzinfo=timezone.utc),   # CET = UTC+1
                         "s2": datetime(2026, 11, 24, 8, 30, tzinfo=timezone.utc)}  # by e-mail


def test_a_plain_times_csv(tmp_path):
    sheet = tmp_path / "times.csv"
    sheet.write_text("student_id,submitted_at\ns1,2026-11-20T23:00:00+01:00\ns3,\n")
    assert [(h.claim.student_id, h.when) for h in lms.read_times(sheet)] == [
        ("s1", datetime(2026, 11, 20, 22, tzinfo=timezone.utc)), ("s3", None)]
    sheet.write_text("who,when\ns1,x\n")
    with pytest.raises(lms.RosterError, match="neither"):
        lms.read_times(sheet)


def test_a_students_own_timestamp_txt_is_not_a_time(tmp_path):
    download = _zip(tmp_path / "c.zip", [(canvas_name("Müller, Bob", 102, 1, NB), "bob"),
                                         (canvas_name("Müller, Bob", 102, 2, "timestamp.txt"),
                                          "2026-11-01 00:00:00.000000 UTC")])
    got = lms.unpack(download, ROSTER, tmp_path / "out")
    assert got.times == {"s101": None} and not (got.students["s101"] / "timestamp.txt").exists()


# -- rosters as the LMSs export them -----------------------------------------------------------

def test_canvas_gradebook_export_as_roster(tmp_path):
    """app/models/gradebook_exporter.rb: Student (sortable), ID, SIS User ID, SIS Login ID,
    Section, assignments; a muted row, a "    Points Possible" row, the Test Student."""
    path = tmp_path / "2026-12-01T0900_Grades-NN101.csv"
    path.write_text("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,02_chain_rule (2201),Current Score\n"
                    ",,,,,Muted,\n"
                    "    Points Possible,,,,,40.00,(read only)\n"
                    '"García López, Inés",109,2301011,ines@uni.example,NN101,,\n'
                    '"Müller, Bob",102,2301012,bob,NN101,38.00,95.00\n'
                    '"=""=cmd|x, Eve""",120,2301013,eve@uni.example,NN101,,\n'
                    '"Student, Test",99,,,NN101,,\n', encoding="utf-8")
    roster = lms.read_roster(path)
    assert roster == [
        lms.Student("2301011", "Inés García López", "ines@uni.example", "109", "2301011", "ines@uni.example"),
        lms.Student("2301012", "Bob Müller", "", "102", "2301012", "bob"),
        lms.Student("2301013", 'Eve =cmd|x', "eve@uni.example", "120", "2301013", "eve@uni.example")]
    # the copy collect keeps in the workspace reads back the same, SIS ids included (the LMS
    # export writes them from it)
    assert lms.read_roster(lms.write_roster(roster, tmp_path / "roster.csv")) == roster
    path.write_text("Student;ID;SIS Login ID;Section;A (1)\n    Points Possible;;;;10\n"
                    "Doe, Jane;1001;jdoe;S1;\n")  # no SIS user ids, a ; separated locale
    assert lms.read_roster(path) == [lms.Student("jdoe", "Jane Doe", "", "1001", sis_login="jdoe")]


def test_moodle_grades_export_as_roster(tmp_path):
    path = tmp_path / "NN101 Grades.csv"
    path.write_text('"First name","Last name","ID number",Institution,Department,"Email address",'
                    '"Assignment: 02_chain_rule (Real)","Last downloaded from this course"\n'
                    "Jane,Doe,2301001,,,jane@uni.example,-,1764579600\n"
                    "Zoë,Ångström,,,,zoe@uni.example,-,1764579600\n")
    assert lms.read_roster(path) == [lms.Student("2301001", "Jane Doe", "jane@uni.example", sis_id="2301001"),
                                     lms.Student("zoe@uni.example", "Zoë Ångström", "zoe@uni.example")]


def test_roster_errors_say_which_line(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("Student ID,Name,Email,LMS ID\ns1,A,a@x,1\ns1,B,b@x,2\n")
    with pytest.raises(lms.RosterError, match="line 3.*appears twice"):
        lms.read_roster(path)
    path.write_text("name,phone\nA,1\n")
    with pytest.raises(lms.RosterError, match="no student id column"):
        lms.read_roster(path)
    for bad in ("../evil", "..", "."):
        path.write_text(f"student_id,name,email,lms_id\n{bad},A,a@x,1\n")
        with pytest.raises(lms.RosterError, match="folder name"):
            lms.read_roster(path)
    path.write_text("Student ID,Full name,Email address,LMS id\ns1,Jane Doe,j@x,77\n")
    assert lms.read_roster(path) == [lms.Student("s1", "Jane Doe", "j@x", "77")]
    lms.write_roster(ROSTER, tmp_path / "copy.csv")
    assert lms.read_roster(tmp_path / "copy.csv") == ROSTER


def test_not_a_zip_is_a_clear_error(tmp_path):
    bad = tmp_path / "download.zip"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="not a zip file"):
        lms.unpack(bad, ROSTER, tmp_path / "out")
