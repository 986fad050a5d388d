"""What the workspace knows about each hand-in beyond the gradebook's scores.

* **When the student handed it in** (:func:`handed_in_at`): the ``timestamp.txt`` in the
  student's folder, as nbgrader's exchange writes it, else the newest notebook's modification
  time — never the time it was collected.  ``collect`` writes it into ``submitted/<s>/<a>/``,
  where nbgrader's autograde reads it into the gradebook.
* **Whether its grade is current** (:func:`is_stale`, :func:`pending`): a submission collected
  after its graded copy was written (a resubmission), or never graded, still needs grading; a
  grade in the gradebook for such a student is *superseded*.
* **What collect turned away** (:func:`rejections`, :func:`record_rejections`): one small JSON
  file per assignment, ``rejected/<a>.json``, so a rejected hand-in shows in the summary and the
  export instead of vanishing; a later good hand-in of that student clears it.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from .workspace import Workspace

TIMESTAMP = "timestamp.txt"
# nbgrader's own format for timestamp.txt (nbgrader.exchange writes it with this pattern)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"


def _newest(paths) -> float | None:
    times = [p.stat().st_mtime for p in paths if p.exists()]
    return max(times) if times else None


def handed_in_at(folder: Path, notebooks: list[Path]) -> datetime:
    """When the student handed in ``folder``: its ``timestamp.txt`` (nbgrader's exchange writes
    one) if it parses, else the newest of ``notebooks``' modification times; in UTC."""
    from nbgrader.utils import parse_utc

    stamp = Path(folder) / TIMESTAMP
    if stamp.is_file():
        try:
            parsed = parse_utc(stamp.read_text().strip())
        except (ValueError, OverflowError):
            parsed = None
        if parsed is not None:
            return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    return datetime.fromtimestamp(_newest(notebooks), timezone.utc)


def format_time(when: datetime | None) -> str:
    """A submission time as the grades table and the CSV show it (UTC, to the second)."""
    if when is None:
        return ""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def write_timestamp(dest: Path, when: datetime) -> None:
    """Record the hand-in time in nbgrader's format; the file's own mtime is the collect time."""
    (Path(dest) / TIMESTAMP).write_text(when.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT))


def read_timestamp(folder: Path) -> datetime | None:
    """The hand-in time recorded in ``folder/timestamp.txt`` by collect, if any."""
    from nbgrader.utils import parse_utc

    stamp = Path(folder) / TIMESTAMP
    try:
        return parse_utc(stamp.read_text().strip()).replace(tzinfo=timezone.utc)
    except (OSError, ValueError, AttributeError):
        return None


def collected_at(ws: Workspace, student: str, assignment: str) -> float | None:
    """When the current submission was collected (the mtime collect gave its timestamp.txt)."""
    folder = ws.submission(student, assignment)
    if not folder.is_dir():
        return None
    return _newest([folder / TIMESTAMP]) or _newest(folder.iterdir())


def graded_at(ws: Workspace, student: str, assignment: str) -> float | None:
    """When the submission's graded copy was written (None: never graded, or grading failed)."""
    return _newest(ws.autograded(student, assignment).glob("*.ipynb"))


def is_stale(ws: Workspace, student: str, assignment: str) -> bool:
    """True when the collected submission has no graded copy newer than itself."""
    graded = graded_at(ws, student, assignment)
    collected = collected_at(ws, student, assignment)
    return graded is None or (collected is not None and collected > graded)


def pending(ws: Workspace, assignment: str, students: list[str] | None = None,
            force: bool = False) -> list[str]:
    """The students (of ``students``, default every collected one) whose submission still needs
    grading: collected after its graded copy (a resubmission) or never graded.  ``force``:
    all of them."""
    students = ws.students(assignment) if students is None else students
    return list(students) if force else [s for s in students if is_stale(ws, s, assignment)]


# -- rejections --------------------------------------------------------------------------------

def _rejections_path(ws: Workspace, assignment: str) -> Path:
    return ws.root / "rejected" / f"{assignment}.json"


def rejections(ws: Workspace, assignment: str) -> dict[str, dict[str, str]]:
    """student -> {"reason", "handed_in", "rejected_at"} for every hand-in collect turned away
    and no later good hand-in replaced."""
    path = _rejections_path(ws, assignment)
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
    path = _rejections_path(ws, assignment)
    if not known and not path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{assignment}.", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(dict(sorted(known.items())), fh, indent=1)
    os.replace(tmp, path)
