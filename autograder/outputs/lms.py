"""Submissions as an LMS hands them out, matched to a roster; grades as an LMS takes them in.

An LMS download is one zip (or the folder it unpacks to) of renamed files.  Each file is read
on its own — one odd file never changes how the others are read:

* **Canvas** ("Download Submissions"; ``lib/content_zipper.rb``, ``get_filename`` and
  ``add_upload_submission``): loose files named ``<sortable name>[_LATE]_<user id>_<attachment
  id>_<uploaded name>``.  The name is the student's sortable name ("Müller, Bob") lower-cased
  with every non-word character removed and Unicode letters kept (``müllerbob``); an
  anonymously graded assignment writes ``[LATE_]anon_<anonymous id>`` instead of name and id.
  A file re-uploaded under the same name is renamed ``<stem>-1<ext>``, ``-2`` … by Canvas.
* **Moodle** ("Download all submissions"; ``mod/assign/classes/downloader.php``): a folder per
  student, ``<Full Name>_<participant id>_assignsubmission_file/`` (Moodle 4.1+; 3.x ended it
  with ``_``), or flat files ``<Full Name>_<participant id>_assignsubmission_file_<file>``; with
  blind marking the name is ``Participant``.  The participant id is the assignment's own
  number for the student (the grading worksheet's "Participant 123"), not the user id.
* a **plain folder**: one folder per student, named by the student id.

Neither zip carries the hand-in time: Canvas writes its zip with rubyzip's
``get_output_stream`` and Moodle streams it with ``zip_writer::add_file_from_stored_file``
(``files/classes/local/archive_writer/zip_writer.php``), both stamping each entry with the moment
the zip is built.  An entry's time is therefore never read.  Hand-in times come from what is
true (:func:`read_times`): a submission-times export of the LMS, Canvas's ``LATE`` marker, or
nbgrader's ``timestamp.txt`` in a plain folder; a student without one has no known time (no late
penalty, and the summary says so).

:func:`unpack` turns a download into the plain layout — a folder per roster student — and says
what it could not place: files that match no roster student (or more than one), older
duplicates, files refused (links, unusable names, oversized), roster students with nothing.
Identity: an LMS id on the roster decides; a name is used only where no id does, only when it
names exactly one roster student, and never to take work an id already placed.
"""

from __future__ import annotations

import csv
import io
import json
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from ..fileio import write_atomically
from ..recording.submissions import TIMESTAMP, read_timestamp, write_timestamp
from .csvout import write_csv

# Canvas, lib/content_zipper.rb: [sortable name, "LATE", user id] joined by "_", non-word
# characters removed, then "_<attachment id>_<uploaded name>"
CANVAS = re.compile(r"^(?P<name>\S+?)(?P<late>_LATE)?_(?P<lms_id>\d+)_(?P<attachment>\d+)_(?P<file>.+)$")
CANVAS_ANONYMOUS = re.compile(r"^(?P<late>LATE_)?(?P<key>anon_(?P<anon>[A-Za-z0-9]+))"
                              r"_(?P<attachment>\d+)_(?P<file>.+)$")
# a text entry or a URL instead of a file (add_text_or_url): "<name>[_LATE]_<user id>_text.html"
CANVAS_ONLINE = re.compile(r"^(?:(?P<name>\S+?)(?P<late>_LATE)?_(?P<lms_id>\d+)|(?P<alate>LATE_)?(?P<key>anon_"
                           r"(?P<anon>[A-Za-z0-9]+)))_(?P<file>text\.html|link\.html)$")
# Moodle, mod/assign/classes/downloader.php: clean_filename("<name>_<participant id>") then
# "_assignsubmission_<plugin>" as a folder (3.x: with a trailing "_") or "_<file>" flat
MOODLE_FOLDER = re.compile(r"^(?P<name>[^_]+)_(?P<lms_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")
MOODLE_FLAT = re.compile(r"^(?P<name>[^_]+)_(?P<lms_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.+)$")
MOODLE_BLIND = "Participant"  # get_string('participant', 'mod_assign') in English
MAX_BYTES = 64 * 2**20  # one submitted file; a lecture notebook with figures is ~1 MB
RESUBMITTED = re.compile(r"^(?P<stem>.+?)-(?P<n>\d+)(?P<ext>\.[^.]+)$")


@dataclass(frozen=True)
class Student:
    """One roster row: the id gradlab grades under, and how the LMS knows the student."""
    id: str
    name: str = ""
    email: str = ""
    lms_id: str = ""
    sis_id: str = ""     # the LMS's SIS user id (Canvas "SIS User ID", Moodle "ID number")
    sis_login: str = ""  # Canvas's "SIS Login ID"


@dataclass
class Unpacked:
    """What :func:`unpack` made of an LMS download."""
    layout: str                                       # "canvas", "moodle", "folder", or several
    students: dict[str, Path] = field(default_factory=dict)   # student id -> their folder
    times: dict[str, datetime | None] = field(default_factory=dict)  # None: not known
    late: list[str] = field(default_factory=list)             # marked late by the LMS itself
    unmatched: list[str] = field(default_factory=list)        # files no single roster student claims
    why: dict[str, str] = field(default_factory=dict)         # LMS key -> why its files are unmatched
    keys: dict[str, str] = field(default_factory=dict)        # unmatched file -> its LMS key
    refused: dict[str, str] = field(default_factory=dict)     # file -> why it was not taken
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # student -> files set aside
    missing: list[str] = field(default_factory=list)          # roster students with nothing


class RosterError(ValueError):
    """A roster that cannot be read; the message says which row and what to fix."""


ROSTER_COLUMNS = {"id": ("student_id", "id", "student id", "sis user id", "id number", "username",
                         "sis login id", "email address"),
                  "name": ("name", "full name", "student", "student name"),
                  "email": ("email", "email address", "e-mail"),
                  "lms_id": ("lms_id", "lms id", "canvas id", "moodle id", "user id", "participant id"),
                  "sis_id": ("sis_id", "sis user id", "id number"),
                  "sis_login": ("sis_login", "sis login id")}
STUDENT_ID = re.compile(r"[\w.@+-]+")


def _read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV as dicts; Canvas writes ``;`` in some locales, Excel a byte-order mark."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(f"cannot read {path}: {exc}") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    try:
        return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise RosterError(f"cannot read {path}: {exc}") from None


def _cell(row: dict, header: dict[str, str], column: str) -> str:
    """The value of ``column`` (lower case) in ``row``, stripped; "" when the file has no such column."""
    return (row.get(header[column]) or "").strip() if column in header else ""


def _unformula(text: str) -> str:
    """Canvas writes a name starting with ``=`` as ``="..."`` (gradebook_exporter.rb)."""
    return text[2:-1] if text.startswith('="') and text.endswith('"') else text


def read_roster(path: Path) -> list[Student]:
    """Students from a CSV, as gradlab writes it (``student_id,name,email,lms_id``; headers
    matched loosely) or as an LMS exports its class:

    * Canvas's gradebook export (``app/models/gradebook_exporter.rb``): ``Student`` ("Doe, Jane"),
      ``ID`` (the Canvas user id: the LMS id), ``SIS User ID`` (the student id; else ``SIS Login
      ID``), a "Points Possible" row and possibly a "Muted" / "Manual Posting" row (skipped), and
      Canvas's Test Student (no login: skipped);
    * Moodle's grade or participants export: ``First name``, ``Last name``, ``ID number`` (else
      ``Email address``) as the student id.
    """
    path = Path(path)
    rows = _read_csv(path)
    if not rows:
        raise RosterError(f"the roster {path} has no rows; it needs a header line "
                          "(student_id,name,email,lms_id) and one row per student")
    header = {h.strip().lower(): h for h in rows[0] if h}
    if "student" in header and "id" in header and ("sis login id" in header or "sis user id" in header):
        rows = list(_canvas_gradebook_rows(rows, header))
        columns = {key: key for key in ROSTER_COLUMNS}
    else:
        if "first name" in header and "last name" in header and "name" not in header:  # Moodle's
            ids = [c for c in ("id number", "username", "email address") if c in header]
            rows = [{**row, "name": f"{_cell(row, header, 'first name')} {_cell(row, header, 'last name')}".strip(),
                     "student_id": next((_cell(row, header, c) for c in ids if _cell(row, header, c)), "")}
                    for row in rows]
            header.update({"name": "name", "student_id": "student_id"})
        columns = {key: next((header[n] for n in names if n in header), "")
                   for key, names in ROSTER_COLUMNS.items()}
    if not columns["id"]:
        raise RosterError(f"the roster {path} has no student id column (one of "
                          f"{', '.join(ROSTER_COLUMNS['id'])}); its columns are {', '.join(rows[0])}")
    students, seen = [], set()
    for number, row in enumerate(rows, start=2):
        line = row.get("_line", number)
        values = {k: (row.get(c) or "").strip() if c else "" for k, c in columns.items()}
        if not values["id"]:
            raise RosterError(f"{path}, line {line}: the student id is empty")
        if not STUDENT_ID.fullmatch(values["id"]) or set(values["id"]) == {"."}:
            raise RosterError(f"{path}, line {line}: student id {values['id']!r} may only hold "
                              "letters, digits and . _ @ + - (it becomes a folder name)")
        if values["id"] in seen:
            raise RosterError(f"{path}, line {line}: student id {values['id']!r} appears twice")
        seen.add(values["id"])
        students.append(Student(**{k: v for k, v in values.items()}))
    return students


def _canvas_gradebook_rows(rows, header):
    """Canvas gradebook rows as plain roster rows (see :func:`read_roster`)."""
    def get(row, col):
        return _cell(row, header, col)
    for line, row in enumerate(rows, start=2):
        student, canvas_id = _unformula(get(row, "student")), get(row, "id")
        if not canvas_id or student.strip().lower() == "points possible":
            continue  # the "Points Possible" row, the "Muted"/"Manual Posting" row
        sis_id, login = get(row, "sis user id"), get(row, "sis login id")
        if not (sis_id or login):
            continue  # Canvas's Test Student (a student view enrollment: no login)
        last, comma, first = student.partition(",")
        name = f"{first.strip()} {last.strip()}" if comma else student
        yield {"_line": line, "id": sis_id or login, "name": name,
               "email": login if "@" in login else "", "lms_id": canvas_id,
               "sis_id": sis_id, "sis_login": login}


def write_roster(students: list[Student], path: Path) -> Path:
    """The roster in gradlab's own columns (what :func:`read_roster` reads back)."""
    path = Path(path)
    buffer = io.StringIO(newline="")  # the names as given: a roster is read back, never opened in a spreadsheet
    writer = csv.writer(buffer)
    writer.writerow(["student_id", "name", "email", "lms_id", "sis_id", "sis_login"])
    writer.writerows([s.id, s.name, s.email, s.lms_id, s.sis_id, s.sis_login] for s in students)
    write_atomically(path, buffer.getvalue())
    return path


# -- who handed in what ------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """Who an LMS says a file (or a row of its times export) belongs to."""
    kind: str                # "canvas", "moodle", "folder"
    key: str                 # what the instructor maps: "102", "anon_x7Yz2", "Participant_71"
    lms_id: str = ""         # Canvas user id, Moodle participant id
    name: str = ""           # the name the LMS wrote ("müllerbob", "Jane Doe")
    email: str = ""
    student_id: str = ""     # a plain folder's name, a times export's student id
    anonymous: bool = False  # Canvas anonymous grading, Moodle blind marking
    late: bool = False       # Canvas's LATE marker
    file: str = ""           # the file's own name
    version: tuple = ()      # which of two same-named files is newer (higher wins)


def claim_of(path: str) -> Claim | None:
    """Who the download says ``path`` (relative, ``/``-separated) belongs to; None: no LMS's
    naming and not in a student's folder."""
    parts = PurePosixPath(path).parts
    top = parts[0]
    if len(parts) > 1:
        match = MOODLE_FOLDER.match(top)
        if match:
            return _moodle_claim(match, parts[-1], depth=len(parts))
        return Claim("folder", top, student_id=top, file=parts[-1], version=(-len(parts),))
    match = MOODLE_FLAT.match(top)
    if match:
        return _moodle_claim(match, match["file"], depth=1)
    match = CANVAS_ONLINE.match(top)
    if match:
        late, file = bool(match["late"] or match["alate"]), match["file"]
        if match["anon"]:
            return Claim("canvas", match["key"], anonymous=True, late=late, file=file)
        return Claim("canvas", match["lms_id"], lms_id=match["lms_id"], name=match["name"], late=late, file=file)
    match = CANVAS_ANONYMOUS.match(top) or CANVAS.match(top)
    if match:
        filename, resubmitted = match["file"], RESUBMITTED.match(match["file"])
        number = 0
        if resubmitted:
            filename, number = resubmitted["stem"] + resubmitted["ext"], int(resubmitted["n"])
        late, version = bool(match["late"]), (number, int(match["attachment"]))
        if "anon" in match.groupdict():
            return Claim("canvas", match["key"], anonymous=True, late=late, file=filename, version=version)
        return Claim("canvas", match["lms_id"], lms_id=match["lms_id"], name=match["name"], late=late,
                     file=filename, version=version)
    return None


def _moodle_claim(match, filename: str, depth: int) -> Claim:
    blind = match["name"] == MOODLE_BLIND
    # keyed by the participant id, as the grading worksheet names it ("Participant 71")
    return Claim("moodle", f"{MOODLE_BLIND}_{match['lms_id']}", lms_id=match["lms_id"],
                 name="" if blind else match["name"], anonymous=blind, file=filename,
                 version=(-depth,))  # Moodle keeps no versions: a file at the folder's top wins


def _slug(text: str) -> str:
    """A name as Canvas writes it: lower case, word characters only (Unicode letters kept)."""
    text = unicodedata.normalize("NFC", text).lower()
    return "".join(ch for ch in text if ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M"))


def _name_slugs(name: str) -> set[str]:
    """Every order of the name's words ("Inés García López" is also "garcíalópezinés", the
    sortable "García López, Inés"); empty for no name."""
    parts = name.replace(",", " ").split()
    return {_slug(" ".join(parts[k:] + parts[:k])) for k in range(len(parts))} - {""}


class Matcher:
    """Who on the roster a claim is (see the module docstring for the rules).

    ``mapping``: the instructor's own answers, LMS key or file path -> student id;
    ``links``: LMS id -> student id learnt from an LMS export that names both (a Moodle grading
    worksheet's participant id and email address)."""

    def __init__(self, roster: list[Student], mapping: dict[str, str] | None = None,
                 links: dict[str, str] | None = None):
        self.by_id = {s.id: s for s in roster}
        self.by_lms = {s.lms_id: s for s in roster if s.lms_id}
        self.by_email = {s.email.lower(): s for s in roster if s.email}
        self.mapping = dict(mapping or {})
        self.links = dict(links or {})
        self.by_name: dict[str, list[Student]] = {}
        for s in roster:
            for slug in _name_slugs(s.name):
                self.by_name.setdefault(slug, []).append(s)

    def match(self, claim: Claim, path: str = "") -> tuple[Student | None, str, str]:
        """(the student, how: "map", "id", "email" or "name", "") or (None, "", why not)."""
        chosen = self.mapping.get(path) or self.mapping.get(claim.key)
        if chosen:
            return self.by_id[chosen], "map", ""
        if claim.student_id:
            student = self.by_id.get(claim.student_id) or self.by_lms.get(claim.student_id)
            return (student, "id", "") if student else (None, "", f"no roster student {claim.student_id}")
        if claim.lms_id in self.links:  # an LMS export named both the LMS id and the email address
            return self.by_id[self.links[claim.lms_id]], "email", ""
        if claim.lms_id in self.by_lms:
            student = self.by_lms[claim.lms_id]
            if claim.kind == "moodle" and claim.name and not (_name_slugs(claim.name) & _name_slugs(student.name)):
                return None, "", (f"participant id {claim.lms_id} is {student.id}'s LMS id on the roster, "
                                  f"but Moodle names it {claim.name!r}: not guessed")
            return student, "id", ""
        if claim.email and claim.email.lower() in self.by_email:
            return self.by_email[claim.email.lower()], "email", ""
        if claim.anonymous:
            return None, "", "anonymous (the LMS hides who it is)"
        found = {s.id: s for slug in _name_slugs(claim.name) for s in self.by_name.get(slug, [])}
        if claim.kind == "canvas":  # a Canvas user id is authoritative: a name never overrides one
            found = {k: s for k, s in found.items() if not s.lms_id}
        if len(found) == 1:
            return next(iter(found.values())), "name", ""
        if len(found) > 1:
            return None, "", f"the name {claim.name!r} fits {' and '.join(sorted(found))} on the roster: not guessed"
        what = f"LMS id {claim.lms_id}" if claim.lms_id else "it"
        return None, "", f"{what} and the name {claim.name!r} match no roster student"

    def check(self, mapping: dict[str, str]) -> None:
        unknown = sorted(f"{k}={v}" for k, v in mapping.items() if v not in self.by_id)
        if unknown:
            raise RosterError(f"--map names students who are not on the roster: {', '.join(unknown)}")


# -- hand-in times -----------------------------------------------------------------------------

@dataclass(frozen=True)
class HandIn:
    """One row of an LMS's submission-times export: who, and when (None: never submitted)."""
    claim: Claim
    when: datetime | None


# Moodle's grading worksheet (mod/assign/gradingtable.php, downloaded by feedback/offline):
# "Identifier" is "Participant <participant id>", times are userdate() in the downloading
# teacher's time zone, English format strftimedaydatetime ("Friday, 20 November 2026, 11:59 PM")
MOODLE_IDENTIFIER = re.compile(r"^\D*?(\d+)$")
MOODLE_TIME_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M")
TIME_COLUMNS = ("submitted_at", "submitted at", "submission time", "handed in", "timestamp")


def read_times(path: Path, tz: str | None = None) -> list[HandIn]:
    """Hand-in times from what the LMS exports, as it comes:

    * Canvas: the Submissions API's JSON (``GET /api/v1/courses/<c>/assignments/<a>/submissions``;
      ``lib/api/v1/submission.rb``: ``user_id`` or ``anonymous_id``, ``submitted_at`` in UTC,
      ``late``) — Canvas has no CSV with submission times;
    * Moodle: the grading worksheet CSV ("Download grading worksheet": ``Identifier``, ``Full
      name``, ``Email address``, ``Last modified (submission)``), whose times are in the
      teacher's time zone: pass it as ``tz`` (e.g. ``Europe/Berlin``);
    * any CSV with a student id (or ``lms_id``) column and a ``submitted_at`` column of ISO 8601
      times (with an offset, or in ``tz``).
    """
    path = Path(path)
    zone = _zone(tz)
    if path.suffix.lower() == ".json":
        return _canvas_times(path)
    rows = _read_csv(path)
    header = {h.strip().lower(): h for h in (rows[0] if rows else {}) if h}
    def get(row, col):
        return _cell(row, header, col)
    found = []
    if "identifier" in header and "last modified (submission)" in header:
        for line, row in enumerate(rows, start=2):
            number = MOODLE_IDENTIFIER.match(get(row, "identifier"))
            if not number:
                continue
            text = get(row, "last modified (submission)")
            when = None if text in ("", "-") else _moodle_time(text, zone, path, line)
            found.append(HandIn(Claim("moodle", f"{MOODLE_BLIND}_{number[1]}", lms_id=number[1],
                                      name=get(row, "full name"), email=get(row, "email address")), when))
        return found
    column = next((header[c] for c in TIME_COLUMNS if c in header), None)
    ids = next((header[c] for c in ROSTER_COLUMNS["id"] + ROSTER_COLUMNS["lms_id"] if c in header), None)
    if column is None or ids is None:
        raise RosterError(f"{path} is neither Canvas's submissions JSON nor Moodle's grading worksheet, "
                          f"and has no student id and submitted_at columns; its columns are {', '.join(header)}")
    for line, row in enumerate(rows, start=2):
        who, text = (row.get(ids) or "").strip(), (row.get(column) or "").strip()
        if who:
            found.append(HandIn(Claim("times", who, student_id=who), _iso_time(text, zone, path, line)))
    return found


def _zone(tz: str | None):
    if not tz:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise RosterError(f"unknown time zone {tz!r}; give one such as Europe/Berlin or UTC") from None


def _canvas_times(path: Path) -> list[HandIn]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RosterError(f"cannot read {path} as Canvas's submissions JSON: {exc}") from None
    rows = data.get("submissions", []) if isinstance(data, dict) else data
    found = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        when = _iso_time(row.get("submitted_at") or "", None, path, 0)
        if row.get("user_id") is not None:
            claim = Claim("canvas", str(row["user_id"]), lms_id=str(row["user_id"]), late=bool(row.get("late")))
        elif row.get("anonymous_id"):
            claim = Claim("canvas", f"anon_{row['anonymous_id']}", anonymous=True, late=bool(row.get("late")))
        else:
            continue
        found.append(HandIn(claim, when))
    return found


def _iso_time(text: str, zone, path: Path, line: int) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RosterError(f"{path}, line {line}: {text!r} is not an ISO 8601 time "
                          "(e.g. 2026-11-20T23:59:00Z)") from None
    return _in_utc(when, zone, path, line)


def _moodle_time(text: str, zone, path: Path, line: int) -> datetime:
    for fmt in MOODLE_TIME_FORMATS:
        try:
            when = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return _in_utc(when, zone, path, line)
    raise RosterError(f"{path}, line {line}: cannot read the time {text!r}; download the worksheet "
                      "with Moodle set to English (its date format: Friday, 20 November 2026, 11:59 PM)")


def _in_utc(when: datetime, zone, path: Path, line: int) -> datetime:
    if when.tzinfo is None:
        if zone is None:
            raise RosterError(f"{path}, line {line}: the time {when:%Y-%m-%d %H:%M} has no time zone; "
                              "pass the zone the LMS wrote it in, e.g. --timezone Europe/Berlin")
        when = when.replace(tzinfo=zone)
    return when.astimezone(timezone.utc)


# -- unpacking a download ----------------------------------------------------------------------

@dataclass
class _Entry:
    path: str
    read: object = None   # () -> bytes
    refused: str = ""     # why it is not taken


def _usable(name: str) -> bool:
    return name not in ("", ".", "..") and not any(c in name for c in "/\\\0")


def _entries(source: Path):
    """Every file of a zip or folder as an :class:`_Entry`; links, oversized files and unusable
    names are refused entry by entry."""
    if source.is_file():
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                name = info.filename
                if info.is_dir() or PurePosixPath(name).name.startswith("."):
                    continue
                parts = PurePosixPath(name.replace("\\", "/")).parts
                if stat.S_ISLNK(info.external_attr >> 16):
                    yield _Entry(name, refused="a symbolic link: links are never followed")
                elif name.startswith("/") or ".." in parts or not _usable(parts[-1] if parts else ""):
                    yield _Entry(name, refused="its path leaves the download or is not a file name")
                elif info.file_size > MAX_BYTES:  # a zip bomb or a data dump, not a notebook
                    yield _Entry(name, refused=f"unpacks to {info.file_size:,} bytes (limit {MAX_BYTES:,})")
                else:
                    data = archive.read(info)
                    yield _Entry("/".join(parts), lambda d=data: d)
        return
    import os

    for folder, dirs, files in os.walk(source):  # never follows a link to a folder
        base = Path(folder)
        for name in sorted(dirs):
            if (base / name).is_symlink():
                yield _Entry((base / name).relative_to(source).as_posix(),
                             refused="a symbolic link: links are never followed")
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (base / d).is_symlink())
        for name in sorted(files):
            path = base / name
            rel = path.relative_to(source).as_posix()
            if name.startswith("."):
                continue
            if path.is_symlink():
                yield _Entry(rel, refused="a symbolic link: links are never followed")
            elif path.stat().st_size > MAX_BYTES:
                yield _Entry(rel, refused=f"{path.stat().st_size:,} bytes (limit {MAX_BYTES:,})")
            else:
                yield _Entry(rel, path.read_bytes)


def unpack(source: Path, roster: list[Student], dest: Path, times: list[HandIn] | None = None,
           mapping: dict[str, str] | None = None, dropped: set[str] | frozenset = frozenset()) -> Unpacked:
    """Lay an LMS download out as one folder per roster student under ``dest``.

    Inputs:
    - source: the LMS's zip, or the folder it unpacks to
    - roster: the class (read_roster)
    - dest: an empty folder to fill; each student's files keep their original names (a lone
      notebook under another name is renamed by ``collect``, which says so), with nbgrader's
      ``timestamp.txt`` where the hand-in time is known
    - times: the LMS's submission-times export (:func:`read_times`)
    - mapping: LMS key or file -> student id, the instructor's answers for what matched nobody
    - dropped: LMS keys or files the instructor set aside for good
    """
    source, dest = Path(source), Path(dest)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist; pass the LMS's zip or the folder it unpacks to")
    if source.is_file() and not zipfile.is_zipfile(source):
        raise ValueError(f"{source} is not a zip file; pass the LMS's download as it came, or a folder")
    times = times or []
    plain = Matcher(roster)
    links = {h.claim.lms_id: s.id for h in times if h.claim.kind == "moodle" and h.claim.email
             for s in [plain.by_email.get(h.claim.email.lower())] if s}
    matcher = Matcher(roster, mapping, links)
    result = Unpacked("")
    kinds: set[str] = set()
    claims: dict[str, tuple[Claim, str, str]] = {}  # path -> (claim, student id, how matched)
    reads = {}
    for entry in _entries(source):
        claim = None if entry.refused else claim_of(entry.path)
        if entry.path in dropped or (claim and claim.key in dropped):
            continue
        if entry.refused:
            result.refused[entry.path] = entry.refused
            continue
        if claim is None:
            result.unmatched.append(entry.path)
            result.keys[entry.path] = entry.path
            result.why.setdefault(entry.path, "named as no LMS names its files, and in no student's folder")
            continue
        kinds.add(claim.kind)
        if claim.file == TIMESTAMP and claim.kind != "folder":  # one uploaded to an LMS is never trusted
            result.refused[entry.path] = "a timestamp.txt handed in through the LMS is not a hand-in time"
            continue
        if not _usable(claim.file):
            result.refused[entry.path] = "not a usable file name"
            continue
        student, how, why = matcher.match(claim, entry.path)
        if student is None:
            result.unmatched.append(entry.path)
            result.keys[entry.path] = claim.key
            result.why.setdefault(claim.key, why)
            continue
        claims[entry.path], reads[entry.path] = (claim, student.id, how), entry.read
    _one_owner_per_student(claims, result)
    chosen: dict[tuple[str, str], tuple[tuple, str]] = {}  # (student, file) -> (version, path)
    for path, (claim, student_id, _) in claims.items():
        key, candidate = (student_id, claim.file), (claim.version, path)
        if key in chosen:  # the newer upload wins; the other is listed
            older, newer = sorted([chosen[key], candidate])
            result.duplicates.setdefault(student_id, []).append(older[1])
            chosen[key] = newer
        else:
            chosen[key] = candidate
    result.layout = ", ".join(sorted(kinds)) or "folder"
    when_of = _times_by_student(times, matcher)
    for (student_id, filename), (_, path) in sorted(chosen.items()):
        folder = dest / student_id
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / filename, reads[path]())  # a plain folder's timestamp.txt: nbgrader's exchange
        result.students[student_id] = folder
        if claims[path][0].late or when_of.get(student_id, (None, False))[1]:
            result.late.append(student_id)
    for student_id, folder in result.students.items():
        when = when_of.get(student_id, (None, False))[0]
        if when is not None:
            write_timestamp(folder, when)
        result.times[student_id] = read_timestamp(folder)
    result.late = sorted(set(result.late))
    result.missing = [s.id for s in roster if s.id not in result.students]
    return result


def _one_owner_per_student(claims: dict[str, tuple[Claim, str, str]], result: Unpacked) -> None:
    """A student's files come from one LMS identity: when a name gives a student files that
    another identity already placed there (by id, email or the instructor's mapping), or two
    identities claim one student by name alone, no name-matched file is taken: the instructor
    decides."""
    by_student: dict[str, set[str]] = {}
    for claim, student, _ in claims.values():
        by_student.setdefault(student, set()).add(claim.key)
    for path, (claim, student, how) in list(claims.items()):
        keys = by_student[student]
        if len(keys) > 1 and how == "name":
            others = sorted(keys - {claim.key})
            del claims[path]
            result.unmatched.append(path)
            result.keys[path] = claim.key
            result.why.setdefault(claim.key, f"{student} on the roster also has files under "
                                             f"{', '.join(others)}: not guessed")
    result.unmatched.sort()


def _times_by_student(times: list[HandIn], matcher: Matcher) -> dict[str, tuple[datetime | None, bool]]:
    """student id -> (hand-in time, marked late) from a times export."""
    found = {}
    for hand_in in times:
        student, _, _ = matcher.match(hand_in.claim)
        if student is not None:
            found[student.id] = (hand_in.when, hand_in.claim.late)
    return found


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
        sis_id, sis_login = s.sis_id, s.sis_login
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

LATE_UNKNOWN = ("the LMS marked this hand-in late, but its time is unknown: no late penalty was "
                "applied; collect again with --times (the LMS's submission-times export) to apply it")


def export_lms(ws, assignment: str, lms: str, roster_csv: Path | None = None,
               to: Path | None = None) -> LmsExport:
    """The assignment's grades as the LMS imports them (see :func:`write_lms_csv`); the roster
    defaults to the one given at collect (``<workspace>/roster.csv``)."""
    from .results import read_results

    roster_csv = Path(roster_csv) if roster_csv else ws.roster
    if not roster_csv.is_file():
        raise FileNotFoundError(f"no roster at {roster_csv}: pass --roster roster.csv (the LMS ids of "
                                "the students come from it)")
    results = read_results(ws, assignment)
    rows = [{"student": r.student, "score": r.final if r.has_score else None} for r in results]
    with ws.gradebook() as gb:  # points possible: the released tests', whoever was graded
        column = lms_column(ws, assignment, gb.find_assignment(assignment).max_score)
    dest = Path(to) if to else ws.exports / f"{assignment}-{lms}.csv"
    return write_lms_csv(rows, read_roster(roster_csv), lms, dest, column)
