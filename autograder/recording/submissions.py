"""What the workspace knows about each hand-in beyond the gradebook's scores.

* **When the student handed it in** (:func:`handed_in_at`): the ``timestamp.txt`` in the
  student's folder, as nbgrader's exchange writes it (an LMS download gets one from the LMS's
  submission-times export, see :mod:`.lms`).  A file's modification time is never taken: an
  LMS zip stamps every file with the moment the zip was built, and a copy with the moment it was
  copied.  Without one the time is unknown: no late penalty, and the summary says so.
  ``collect`` writes it into ``submitted/<s>/<a>/``, where the writer reads it into the gradebook.
* **When it was graded** (:func:`graded_at`).  Whether a
  grade is current is the ledger's to say (:meth:`gradlab_grader.recording.ledger.Ledger.state`: the
  files graded are the files collected).
* **What collect turned away** (:func:`rejections`, :func:`record_rejections`): one small JSON
  file per assignment, ``rejected/<a>.json``, so a rejected hand-in shows in the summary and the
  export instead of vanishing; a later good hand-in of that student clears it.
* **What an LMS download left open** (:func:`lms_state`, :func:`record_lms`): ``lms/<a>.json``
  holds the files that matched no roster student (until the instructor maps or drops them), the
  instructor's mapping and drops, and a note per student (a late marker without a known time).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from ..fileio import write_atomically, write_json
from ..workspace import Workspace

TIMESTAMP = "timestamp.txt"
# nbgrader's own format for timestamp.txt (nbgrader.exchange writes it with this pattern)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"


def _newest(paths) -> float | None:
    times = [p.stat().st_mtime for p in paths if p.exists()]
    return max(times) if times else None


def handed_in_at(folder: Path) -> datetime | None:
    """When the student handed in ``folder``: its ``timestamp.txt`` (nbgrader's exchange writes
    one) in UTC; None when there is none or it does not parse (the time is unknown)."""
    return read_timestamp(folder)


UNKNOWN = "time unknown"  # what the summary and the export say of a hand-in without a time


def format_time(when: datetime | None) -> str:
    """A submission time as the grades table and the CSV show it (UTC, to the second)."""
    if when is None:
        return ""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def write_timestamp(dest: Path, when: datetime) -> None:
    """Record the hand-in time in nbgrader's format; the file's own mtime is the collect time."""
    write_atomically(Path(dest) / TIMESTAMP, when.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT))


def read_timestamp(folder: Path) -> datetime | None:
    """The hand-in time recorded in ``folder/timestamp.txt`` by collect, if any."""
    from nbgrader.utils import parse_utc

    stamp = Path(folder) / TIMESTAMP
    if stamp.is_symlink():
        return None
    try:
        parsed = parse_utc(stamp.read_text().strip())
    except (OSError, ValueError, AttributeError, OverflowError, UnicodeDecodeError):
        return None
    if parsed is None:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def graded_at(ws: Workspace, student: str, assignment: str) -> float | None:
    """When the submission's graded copy was written (None: never graded, or grading failed)."""
    return _newest(ws.autograded(student, assignment).glob("*.ipynb"))


# -- rejections --------------------------------------------------------------------------------

def rejections(ws: Workspace, assignment: str) -> dict[str, dict[str, str]]:
    """student -> {"reason", "handed_in", "rejected_at"} for every hand-in collect turned away
    and no later good hand-in replaced."""
    path = ws.rejections(assignment)
    return json.loads(path.read_text()) if path.is_file() else {}


def record_rejections(ws: Workspace, assignment: str, rejected: dict[str, str],
                      handed_in: dict[str, str], accepted: list[str]) -> None:
    """Add this collect's rejections and clear those of students it accepted, atomically (a
    crash leaves the old file or the new one, never half of one)."""
    known = rejections(ws, assignment)
    for student in accepted:
        known.pop(student, None)
    now = format_time(datetime.now(timezone.utc))
    for student, reason in rejected.items():
        known[student] = {"reason": reason, "handed_in": handed_in.get(student, ""), "rejected_at": now}
    path = ws.rejections(assignment)
    if not known and not path.exists():
        return
    write_json(path, dict(sorted(known.items())))


# -- what an LMS download left open ------------------------------------------------------------

def lms_state(ws: Workspace, assignment: str) -> dict:
    """{"map": {key: student}, "dropped": [key], "unmatched": {key: {"files", "why"}},
    "notes": {student: [note]}} of the assignment's LMS downloads (empty without one)."""
    path = ws.lms_state(assignment)
    state = json.loads(path.read_text()) if path.is_file() else {}
    return {"map": {}, "dropped": [], "unmatched": {}, "notes": {}, **state}


def record_lms(ws: Workspace, assignment: str, mapping: dict[str, str], dropped: list[str],
               unmatched: dict[str, dict], notes: dict[str, list[str]]) -> None:
    """Keep what the latest download left unmatched, the instructor's mapping and drops, and the
    notes of the students it collected (a student collected again without one loses the old)."""
    state = lms_state(ws, assignment)
    kept = {s: n for s, n in {**state["notes"], **notes}.items() if n}
    write_json(ws.lms_state(assignment), {"map": dict(sorted(mapping.items())), "dropped": dropped,
                                            "unmatched": dict(sorted(unmatched.items())), "notes": kept})


def unmatched_lines(ws: Workspace, assignment: str) -> list[str]:
    """What the summary says of files in the LMS download that no roster student claims."""
    from shlex import quote

    found = lms_state(ws, assignment)["unmatched"]
    return [f"unmatched {key}: {', '.join(entry['files'][:3])}{' …' if len(entry['files']) > 3 else ''}"
            f" — {entry['why']}; map it with `gradlab collect {assignment} DOWNLOAD --roster ROSTER "
            f"--map {quote(key + '=STUDENT')}` or set it aside with --drop {quote(key)}"
            for key, entry in found.items()]
