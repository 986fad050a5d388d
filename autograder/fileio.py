"""Files the grader writes so that a reader, or a crash, sees the old content or the new, never half.

Every file the grader writes whole goes through :func:`write_atomically` (bytes or text) or
:func:`write_json`; a file another library writes (a zip, a CSV writer) through
:func:`atomic_path`; a folder written file by file is built beside its place and swapped in by
:func:`replace_folder`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write; when the block ends without an error it is
    flushed to disk and renamed over ``path``, otherwise removed (``path`` untouched)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    tmp = Path(name)
    try:  # mkstemp's 0600 would hide a report or a bundle from everyone else: open()'s mode
        os.fchmod(fd, _mode_of(path))
    finally:
        os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _mode_of(path: Path) -> int:
    """The mode the file at ``path`` has, or the one ``open(path, "w")`` would give it."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux says it without changing it (threads may be writing files meanwhile)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write ``path`` (text as UTF-8) so that a reader (or a crash) sees the old content or the
    new, never half."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented UTF-8 JSON, written atomically."""
    write_atomically(path, json.dumps(data, indent=1, ensure_ascii=False))


def staging_folder(dest: Path) -> Path:
    """An empty folder beside ``dest`` (same file system) to build its next content in."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    staging.chmod(0o777 & ~_umask())  # mkdtemp's 0700: the mode mkdir gives
    return staging


def replace_folder(staging: Path, dest: Path) -> None:
    """Swap the folder ``staging`` in as ``dest`` by two renames: at every moment ``dest`` is
    the old folder, absent for an instant, or the new one, never half of either."""
    dest = Path(dest)
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    Path(staging).rename(dest)
    shutil.rmtree(old, ignore_errors=True)
