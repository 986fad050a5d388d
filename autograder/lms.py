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

def write_lms_csv(rows: list[dict], roster: list[Student], lms: str, path: Path,
                  column: str, max_score: float) -> Path:
    """Grades in the columns an LMS's gradebook import reads.

    ``rows`` are {"student": id, "score": float or None, "status": str} — ``score`` is None for
    a submission that could not be graded, which is left blank (not zero) so the LMS keeps its
    own value and the instructor sees the gap.

    * canvas: ``Student, ID, SIS User ID, SIS Login ID, Section, <column>`` with the Canvas
      user id from the roster in ``ID`` (Canvas matches on it) and a ``Points Possible`` row;
    * moodle: ``Full name, Email address, ID number, <column>`` (Moodle's CSV import maps the
      email address or the ID number to its users).
    """
    by_id = {s.id: s for s in roster}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if lms == "canvas":
            writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column])
            writer.writerow(["Points Possible", "", "", "", "", f"{max_score:g}"])
        elif lms == "moodle":
            writer.writerow(["Full name", "Email address", "ID number", column])
        else:
            raise ValueError(f"unknown LMS {lms!r}; choose canvas or moodle")
        for row in rows:
            s = by_id.get(row["student"], Student(row["student"]))
            score = "" if row["score"] is None else f"{row['score']:g}"
            if lms == "canvas":
                writer.writerow([s.name or s.id, s.lms_id, s.id, s.email, "", score])
            else:
                writer.writerow([s.name or s.id, s.email, s.id, score])
    return path


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


def export_lms(ws, assignment: str, lms: str, roster_csv: Path, to: Path | None = None) -> Path:
    """The assignment's grades as the LMS imports them (see :func:`write_lms_csv`)."""
    from .results import FAILED, NOT_GRADED, REJECTED, read_results

    results = read_results(ws, assignment)
    rows = [{"student": r.student, "status": r.status,
             "score": None if r.status in (FAILED, NOT_GRADED, REJECTED) else r.final} for r in results]
    max_score = max((r.max_score for r in results), default=0.0)
    dest = Path(to) if to else ws.exports / f"{assignment}-{lms}.csv"
    return write_lms_csv(rows, read_roster(roster_csv), lms, dest, assignment, max_score)
