"""Submissions as an LMS hands them out, matched to a roster; grades as an LMS takes them in.

An LMS download is one zip (or the folder it unpacks to) of renamed files:

* **Canvas** ("Download Submissions"): loose files named
  ``<lastfirst>[_LATE]_<canvas user id>_<attachment id>_<original name>``; a resubmitted file
  gets ``-1``, ``-2`` … before its extension.
* **Moodle** ("Download all submissions"): ``<Full Name>_<participant id>_assignsubmission_file_``
  either as a folder holding the original files or as a prefix of each file name.
* a **plain folder**: one folder per student, named by the student id (what ``gradlab collect``
  has always taken).

:func:`unpack` turns any of them into that plain layout — a folder per roster student holding
the released notebook names — and says what it could not place: files that match no roster
entry, older duplicates (the latest submission wins), roster students without a submission.
Each notebook keeps its submission time as its modification time, so the time recorded at
collect is the student's, not the download's (nbgrader's late-submission handling reads it).

:func:`write_lms_csv` writes grades in the columns Canvas's and Moodle's gradebook imports read.
"""

from __future__ import annotations

import csv
import os
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from .csvout import write_csv

CANVAS = re.compile(r"^(?P<name>[a-z0-9]+?)(?P<late>_LATE)?_(?P<lms_id>\d+)_(?P<attachment>\d+)_(?P<file>.+)$")
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<lms_id>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>.*)$")
MAX_BYTES = 64 * 2**20  # one submitted file; a lecture notebook with figures is ~1 MB
RESUBMITTED = re.compile(r"^(?P<stem>.+?)-(?P<n>\d+)(?P<ext>\.[^.]+)$")


@dataclass(frozen=True)
class Student:
    """One roster row: the id gradlab grades under, and how the LMS knows the student."""
    id: str
    name: str = ""
    email: str = ""
    lms_id: str = ""


@dataclass
class Unpacked:
    """What :func:`unpack` made of an LMS download."""
    layout: str                                       # "canvas", "moodle" or "folder"
    students: dict[str, Path] = field(default_factory=dict)   # student id -> their folder
    times: dict[str, datetime] = field(default_factory=dict)  # student id -> submission time
    late: list[str] = field(default_factory=list)             # marked late by the LMS itself
    unmatched: list[str] = field(default_factory=list)        # files no roster row claims
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # student -> files set aside
    missing: list[str] = field(default_factory=list)          # roster students with nothing


class RosterError(ValueError):
    """A roster that cannot be read; the message says which row and what to fix."""


ROSTER_COLUMNS = {"id": ("student_id", "id", "student id", "sis user id", "username"),
                  "name": ("name", "full name", "student", "student name"),
                  "email": ("email", "email address", "e-mail"),
                  "lms_id": ("lms_id", "lms id", "canvas id", "moodle id", "user id")}


def read_roster(path: Path) -> list[Student]:
    """Students from a CSV with columns for the id, name, email and LMS id (header names are
    matched loosely: ``student_id``/``id``, ``name``/``full name``, ``email``, ``lms_id``)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RosterError(f"cannot read the roster {path}: {exc}") from None
    if not rows:
        raise RosterError(f"the roster {path} has no rows; it needs a header line "
                          "(student_id,name,email,lms_id) and one row per student")
    header = {h.strip().lower(): h for h in rows[0]}
    columns = {key: next((header[n] for n in names if n in header), None)
               for key, names in ROSTER_COLUMNS.items()}
    if columns["id"] is None:
        raise RosterError(f"the roster {path} has no student id column (one of "
                          f"{', '.join(ROSTER_COLUMNS['id'])}); its columns are {', '.join(rows[0])}")
    students, seen = [], set()
    for line, row in enumerate(rows, start=2):
        values = {k: (row.get(c) or "").strip() if c else "" for k, c in columns.items()}
        if not values["id"]:
            raise RosterError(f"{path}, line {line}: the student id is empty")
        if not re.fullmatch(r"[\w.@+-]+", values["id"]):
            raise RosterError(f"{path}, line {line}: student id {values['id']!r} may only hold "
                              "letters, digits and . _ @ + - (it becomes a folder name)")
        if values["id"] in seen:
            raise RosterError(f"{path}, line {line}: student id {values['id']!r} appears twice")
        seen.add(values["id"])
        students.append(Student(**values))
    return students


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _canvas_slugs(name: str) -> set[str]:
    """Canvas writes "Jane Doe" as ``doejane``; accept first-last too."""
    parts = name.split()
    return {_slug("".join(parts[-1:] + parts[:-1])), _slug(name)} if parts else set()


def _entries(source: Path):
    """(relative path, bytes reader, modification time) for every file of a zip or folder."""
    if source.is_file():
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if info.is_dir() or PurePosixPath(info.filename).name.startswith("."):
                    continue
                stamp = datetime(*info.date_time).replace(tzinfo=timezone.utc)
                if info.file_size > MAX_BYTES:  # a zip bomb or a data dump, not a notebook
                    raise ValueError(f"{info.filename} in {source} unpacks to {info.file_size:,} "
                                     f"bytes (limit {MAX_BYTES:,}); remove it from the download")
                data = archive.read(info)
                yield info.filename, (lambda d=data: d), stamp
    else:
        for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")):
            stamp = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            yield str(path.relative_to(source).as_posix()), path.read_bytes, stamp


def layout_of(names: list[str]) -> str:
    """Which LMS made these paths: ``canvas``, ``moodle`` or a plain ``folder``."""
    tops = [PurePosixPath(n).parts[0] for n in names]
    if tops and all(MOODLE.match(t) for t in tops):
        return "moodle"
    if tops and all(CANVAS.match(PurePosixPath(n).name) and len(PurePosixPath(n).parts) == 1 for n in names):
        return "canvas"
    return "folder"


def unpack(source: Path, roster: list[Student], dest: Path) -> Unpacked:
    """Lay an LMS download out as one folder per roster student under ``dest``.

    Inputs:
    - source: the LMS's zip, or the folder it unpacks to
    - roster: the class (read_roster)
    - dest: an empty folder to fill; each student's files keep their original names (a lone
      notebook under another name is renamed by ``collect``, which says so)
    """
    source, dest = Path(source), Path(dest)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist; pass the LMS's zip or the folder it unpacks to")
    if source.is_file() and not zipfile.is_zipfile(source):
        raise ValueError(f"{source} is not a zip file; pass the LMS's download as it came, or a folder")
    entries = list(_entries(source))
    result = Unpacked(layout_of([name for name, _, _ in entries]))
    by_lms = {s.lms_id: s for s in roster if s.lms_id}
    by_id = {s.id: s for s in roster}
    by_name = {}
    for s in roster:
        for slug in (_canvas_slugs(s.name) | {_slug(s.name)}) if s.name else set():
            by_name.setdefault(slug, s)
    chosen: dict[tuple[str, str], tuple[datetime, int, str, object]] = {}
    for name, read, stamp in entries:
        student, filename, late, version = _owner(result.layout, name, by_lms, by_id, by_name)
        if student is None:
            result.unmatched.append(name)
            continue
        if late:
            result.late.append(student.id)
        key = (student.id, filename)
        candidate = (stamp, version, name, read)
        if key in chosen:
            older, newer = sorted([chosen[key], candidate], key=lambda c: (c[0], c[1]))
            result.duplicates.setdefault(student.id, []).append(older[2])
            chosen[key] = newer
        else:
            chosen[key] = candidate
    for (student_id, filename), (stamp, _, _, read) in sorted(chosen.items(), key=lambda kv: kv[0]):
        folder = dest / student_id
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / filename
        target.write_bytes(read())
        os.utime(target, (stamp.timestamp(), stamp.timestamp()))
        result.students[student_id] = folder
        result.times[student_id] = max(stamp, result.times.get(student_id, stamp))
    result.late = sorted(set(result.late))
    result.missing = [s.id for s in roster if s.id not in result.students]
    return result


def _owner(layout, name, by_lms, by_id, by_name):
    """(student, original file name, marked late, resubmission number) of one download entry."""
    path = PurePosixPath(name)
    if layout == "canvas":
        match = CANVAS.match(path.name)
        filename, version = match["file"], 0
        resubmitted = RESUBMITTED.match(filename)
        if resubmitted:
            filename, version = resubmitted["stem"] + resubmitted["ext"], int(resubmitted["n"])
        student = by_lms.get(match["lms_id"]) or by_name.get(match["name"])
        return student, filename, bool(match["late"]), version
    if layout == "moodle":
        match = MOODLE.match(path.parts[0])
        filename = "/".join(path.parts[1:]) if len(path.parts) > 1 else match["file"]
        student = by_name.get(_slug(match["name"])) or by_lms.get(match["lms_id"])
        return student, PurePosixPath(filename).name, False, 0
    student = by_id.get(path.parts[0]) if len(path.parts) > 1 else None
    return student, path.name, False, 0


# -- grades out --------------------------------------------------------------------------------
#
# What the LMS imports read (so that is what is written):
# * Canvas, app/models/gradebook_importer.rb: the header starts ``Student, ID`` (the Canvas user
#   id, matched first), then optionally ``SIS User ID, SIS Login ID`` (matched next, against the
#   account's pseudonyms), and the last student column must be ``Section``; an assignment column
#   is ``Title (id)`` (``Assignment.title_and_id``: ``/\A(.*)\s\((\d+)\)\z/``), else it is matched
#   by its exact title or created as a new assignment; a row whose first cell includes
#   ``Points Possible`` describes the assignments; a blank or ``-`` grade changes nothing.  A row
#   with no match by id becomes an unknown student.  lib/gradebook_exporter.rb writes the same
#   header and ``"    Points Possible"`` with numbers to two decimals (``I18n.n(x, precision: 2)``).
# * Moodle, grade/import/csv/classes/load_data.php: the instructor maps one column to the users
#   (id, ID number, email address or username) and one to the grade item; a row whose user is
#   blank or unknown aborts the whole import ("usermappingerrorusernotfound"), a grade that is
#   not a number aborts it too ("badgrade"); ``''`` or ``-`` is no grade.

@dataclass(frozen=True)
class LmsColumn:
    """The LMS assignment the grades go to: ``[lms.<assignment>]`` in ``gradlab.toml``."""
    title: str  # the assignment's name in the LMS
    id: str = ""  # Canvas's assignment id (the number in the assignment's address)
    points: float = 0.0  # points possible

    @property
    def canvas_header(self) -> str:
        return f"{self.title} ({self.id})" if self.id else self.title


def lms_column(ws, assignment: str, points: float) -> LmsColumn:
    """The LMS assignment of ``assignment`` from ``gradlab.toml`` (``title``, ``id``); without
    one, the title is the assignment id and there is no Canvas id."""
    entry = ws.policy().get("lms", {}).get(assignment, {})
    title, canvas_id = str(entry.get("title", assignment)).strip(), str(entry.get("id", "")).strip()
    if canvas_id and not canvas_id.isdigit():
        raise ValueError(f"{ws.policy_file}: [lms.{assignment}] id must be the LMS's assignment number "
                         f"(digits, e.g. id = 4711), not {canvas_id!r}")
    return LmsColumn(title or assignment, canvas_id, points)


@dataclass
class LmsExport:
    """What :func:`write_lms_csv` wrote, and who it left out (student id -> why)."""
    path: Path
    written: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)


def _canvas_number(x: float) -> str:
    return f"{x:.2f}"  # lib/gradebook_exporter.rb: format_numbers, I18n.n(number, precision: 2)


def write_lms_csv(rows: list[dict], roster: list[Student], lms: str, path: Path,
                  column: LmsColumn) -> LmsExport:
    """Grades in the columns an LMS's gradebook import reads (see the notes above).

    ``rows`` are {"student": gradlab id, "score": float or None}: ``None`` (nothing graded)
    is left blank, which both imports take as "no change", never a zero.  Only students on the
    roster with an id the LMS matches are written (Moodle aborts an import on one unknown user);
    the others are listed in :attr:`LmsExport.left_out` with the reason.

    * canvas: ``Student, ID, SIS User ID, SIS Login ID, Section, <Title (id)>`` with the Canvas
      user id, SIS user id and SIS login id from the roster, and Canvas's ``Points Possible`` row;
    * moodle: ``Full name, Email address, ID number, <Title>``: map the users by email address.
    """
    if lms not in ("canvas", "moodle"):
        raise ValueError(f"unknown LMS {lms!r}; choose canvas or moodle")
    by_id = {s.id: s for s in roster}
    result = LmsExport(Path(path))
    body = []
    for row in rows:
        s = by_id.get(row["student"])
        if s is None:
            result.left_out[row["student"]] = "not on the roster"
            continue
        # the roster's SIS ids, where it has them (a Canvas gradebook export as the roster does)
        sis_id, sis_login = getattr(s, "sis_id", ""), getattr(s, "sis_login", "")
        score = row["score"]
        if lms == "canvas":
            if not (s.lms_id or sis_id or sis_login):
                result.left_out[s.id] = "the roster has no Canvas id, SIS user id or SIS login id"
                continue
            body.append([s.name or s.id, s.lms_id, sis_id, sis_login, "",
                         "" if score is None else _canvas_number(score)])
        else:
            if not s.email:
                result.left_out[s.id] = "the roster has no email address (Moodle matches users by it)"
                continue
            body.append([s.name or s.id, s.email, sis_id, "" if score is None else f"{score:g}"])
        result.written.append(s.id)
    if lms == "canvas":
        header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column.canvas_header]
        body.insert(0, ["    Points Possible", "", "", "", "", _canvas_number(column.points)])
    else:
        header = ["Full name", "Email address", "ID number", column.title]
    write_csv(result.path, header, body)
    return result


# -- the workspace side ------------------------------------------------------------------------

def collect_download(ws, assignment: str, source: Path, roster_csv: Path):
    """Collect an LMS download (zip or folder) against a roster: unpack it into a folder per
    student, hand that to ``pipeline.collect``, and give the gradebook the deadlines of
    ``gradlab.toml``.  Returns ``(Unpacked, Collected)``."""
    import tempfile

    from . import pipeline

    roster = read_roster(roster_csv)
    with tempfile.TemporaryDirectory(prefix=f"lms-{assignment}-", dir=ws.root) as inbox:
        unpacked = unpack(source, roster, Path(inbox))
        if not unpacked.students:
            raise ValueError(f"nothing in {source} matches the roster {roster_csv} "
                             f"({len(unpacked.unmatched)} files unmatched); check the roster's "
                             "names and LMS ids against the download")
        collected = pipeline.collect(ws, assignment, Path(inbox))
    ws.apply_deadlines()
    return unpacked, collected


def export_lms(ws, assignment: str, lms: str, roster_csv: Path | None = None,
               to: Path | None = None) -> LmsExport:
    """The assignment's grades as the LMS imports them (see :func:`write_lms_csv`); the roster
    defaults to the one given at collect (``<workspace>/roster.csv``)."""
    from .results import read_results

    roster_csv = Path(roster_csv) if roster_csv else ws.root / "roster.csv"
    if not roster_csv.is_file():
        raise FileNotFoundError(f"no roster at {roster_csv}: pass --roster roster.csv (the LMS ids of "
                                "the students come from it)")
    results = read_results(ws, assignment)
    rows = [{"student": r.student, "score": r.final if r.has_score else None} for r in results]
    with ws.gradebook() as gb:  # points possible: the released tests', whoever was graded
        column = lms_column(ws, assignment, gb.find_assignment(assignment).max_score)
    dest = Path(to) if to else ws.exports / f"{assignment}-{lms}.csv"
    return write_lms_csv(rows, read_roster(roster_csv), lms, dest, column)
