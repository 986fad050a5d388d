"""fileio: the one way the grader writes a file (or a folder) whole, and nobody else's."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest

from gradlab_grader.fileio import atomic_path, replace_folder, staging_folder, write_atomically, write_json

PACKAGE = Path(__file__).resolve().parents[2] / "autograder"


def test_write_atomically_writes_text_and_bytes_and_leaves_no_temporary(tmp_path):
    write_atomically(tmp_path / "a" / "b.txt", "é\n")
    write_atomically(tmp_path / "c.bin", b"\x00\xff")
    write_json(tmp_path / "d.json", {"ü": [1, 2]})
    assert (tmp_path / "a" / "b.txt").read_bytes() == "é\n".encode()
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\xff"
    assert (tmp_path / "d.json").read_text(encoding="utf-8") == '{\n "ü": [\n  1,\n  2\n ]\n}'
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.txt", "c.bin", "d.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half of the new")
            raise RuntimeError("refused")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle.zip"]


def test_replace_folder_swaps_the_whole_folder(tmp_path):
    dest = tmp_path / "course" / "01_x"
    for content in ("first", "second"):
        staging = staging_folder(dest)
        assert staging.parent == dest.parent and not any(staging.iterdir())
        (staging / "nb.ipynb").write_text(content)
        replace_folder(staging, dest)
        assert (dest / "nb.ipynb").read_text() == content
    assert [p.name for p in dest.parent.iterdir()] == ["01_x"]  # no staging or old folder left


def test_atomic_path_keeps_the_mode_a_new_file_would_get(tmp_path):
    """mkstemp makes 0600 files; what the grader writes for others to read (a bundle, a report)
    must stay readable by them as a plain open() would make it."""
    umask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "report.html", "<p>")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644


# where a module may write a file itself: the kernel's own files (cgroup controls, the masks of
# hidden paths, the key), the working copy the engine fills for a kernel, and the ledger's
# staging folder (swapped in whole by replace_folder)
WRITERS_ALLOWED = {"fileio.py", "execution/engine.py", "recording/ledger.py"}
WRITES = {"write_text", "write_bytes", "rename", "replace"}


def whole_file_writes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        # Path.replace(target) and os.replace(a, b); not str.replace(a, b), datetime.replace(tzinfo=…),
        # dataclasses.replace(obj, …)
        one_target = len(node.args) == 1 and not node.keywords
        if isinstance(func, ast.Attribute) and func.attr in WRITES and (
                func.attr != "replace" or one_target or ast.unparse(func) == "os.replace"):
            found.append(f"{func.attr} at line {node.lineno}")
        mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
        writes = isinstance(mode, ast.Constant) and "w" in str(mode.value)
        if isinstance(func, ast.Name) and func.id == "open" and writes:
            found.append(f"open(..., {mode.value!r}) at line {node.lineno}")
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_whole_file_write_goes_through_fileio(path):
    where = path.relative_to(PACKAGE).as_posix()
    if where in WRITERS_ALLOWED or where.startswith("kernel/"):
        return
    assert whole_file_writes(path) == [], f"{path.name}: write through gradlab_grader.fileio"


def test_a_staging_folder_gets_the_mode_mkdir_would_give(tmp_path):
    umask = os.umask(0o022)
    try:
        staging = staging_folder(tmp_path / "autograded" / "ann" / "toy")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(staging.stat().st_mode) == 0o755
