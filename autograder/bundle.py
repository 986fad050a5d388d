"""The student bundle: one assignment, ready to upload to an LMS or nbgrader's exchange.

``gradlab release`` writes ``<workspace>/bundles/<a>.zip`` for each assignment, one folder::

    <a>/<a>.ipynb ...                     the released notebook(s) and their files
    <a>/INSTALL.txt                       the one install line, and how to open the course
    <a>/gradlab-<version>-py3-none-any.whl  the course library (and its checks), built here

Students unzip every bundle into one course folder: each assignment lands in a folder of its own,
so a second bundle overwrites nothing, and ``jupyter lab`` started there serves them side by side.
Every file is readable (mode 644, folders 755) whatever the workspace's own modes.

Students never need the repository (which holds ``solutions/`` and its hidden tests).  The wheel
is the course library alone (``gradlab``, ``lib/pyproject.toml``; not the grader), built with
``pip wheel --no-deps`` from a copy of ``lib/``'s package sources, so no solution, hidden test or
mistake set can ride along; :func:`check_bundle` refuses a bundle that holds one all the same.
The library's dependencies (NumPy, Matplotlib, JupyterLab, nbgrader for Validate …) come from
the student's package index as usual; its wheel also sets up the students' JupyterLab (Validate,
none of nbgrader's instructor tools: ``lib/jupyter-config``).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from .cells import LEAK_MARKERS
from .fileio import atomic_path
from .workspace import Workspace

# what the library's wheel is built from (inside lib/); nothing else is copied to build it
PACKAGE_SOURCES = ("pyproject.toml", "README.md", "gradlab", "jupyter-config")
FILE_MODE, FOLDER_MODE = 0o644, 0o755   # what unzip gives every file and folder of a bundle
_built: dict[str, tuple[str, bytes]] = {}  # sources digest -> wheel, so one process builds it once


class BundleError(RuntimeError):
    """The bundle could not be built, or would give something away."""


def package_tree(ws: Workspace) -> Path:
    """The source tree of the course library (``lib/``, with its ``pyproject.toml``): the one
    beside this grader when it runs from the repository (an editable install), else the
    workspace's repository's."""
    here = Path(__file__).resolve().parent.parent / "lib"
    for tree in (here, ws.repo / "lib"):
        if (tree / "pyproject.toml").is_file() and (tree / "gradlab").is_dir():
            return tree
    raise BundleError(f"no pyproject.toml beside gradlab/ in {here} or {ws.repo / 'lib'}: the "
                      "student bundle needs the course library's sources to build its wheel")


def _sources(tree: Path, names) -> list[Path]:
    files = []
    for name in names:
        path = tree / name
        files += [path] if path.is_file() else sorted(
            p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and not any(part.endswith(".egg-info") for part in p.parts))
    return files


def wheel_of(tree: Path, sources=PACKAGE_SOURCES) -> tuple[str, bytes]:
    """``(file name, bytes)`` of the wheel of the distribution whose ``pyproject.toml`` is in
    ``tree``, built from a copy of ``sources`` (paths inside ``tree``) alone with ``pip wheel
    --no-deps --no-build-isolation``: offline, with the setuptools installed here."""
    files = _sources(tree, sources)
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes())
    key = digest.hexdigest()
    if key not in _built:
        with tempfile.TemporaryDirectory(prefix="gradlab-wheel-") as tmp:
            stage, out = Path(tmp) / "src", Path(tmp) / "dist"
            for path in files:
                (stage / path.relative_to(tree)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, stage / path.relative_to(tree))
            done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                                   "--no-index", "--quiet", "--disable-pip-version-check", "-w", str(out),
                                   str(stage)], capture_output=True, text=True)
            wheels = sorted(out.glob("*.whl"))
            if done.returncode or not wheels:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise BundleError(f"building the wheel of {tree} failed: {last}")
            _built[key] = (wheels[0].name, wheels[0].read_bytes())
    return _built[key]


def build_wheel(ws: Workspace) -> tuple[str, bytes]:
    """``(file name, bytes)`` of the course library's wheel, the one a bundle carries."""
    return wheel_of(package_tree(ws))


INSTALL = """\
{assignment} — gradlab course

Unzip every assignment of the course into one folder, your course folder: each one is a folder
of its own beside the others.  In a terminal, in that course folder:

1. Install the course library into the Python you run Jupyter with (for each new assignment:
   pip updates the library when this bundle's is newer, and otherwise leaves it as it is):

       pip install {assignment}/{wheel}

   (its dependencies, NumPy, Matplotlib, JupyterLab and friends, come from your package index)

2. Start JupyterLab in the course folder:

       jupyter lab

   then open {first} in the file browser on the left.
   Work top to bottom; the Validate button above the notebook runs every test.

3. Hand in {notebooks} the way your instructor asks.
"""


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    """A zip entry that unzips with ``mode`` (a folder when ``name`` ends in '/') on any system."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.create_system = 3                               # Unix: unzip honours the mode bits
    folder = name.endswith("/")
    info.external_attr = ((0o040000 if folder else 0o100000) | mode) << 16 | (0x10 if folder else 0)
    info.compress_type = zipfile.ZIP_STORED if folder else zipfile.ZIP_DEFLATED
    return info


def write_bundle(ws: Workspace, assignment: str) -> Path:
    """Write ``<workspace>/bundles/<assignment>.zip`` from the release of ``assignment``."""
    release = ws.release(assignment)
    files = sorted(p for p in release.rglob("*") if p.is_file())
    notebooks = [p.relative_to(release).as_posix() for p in files if p.suffix == ".ipynb"]
    wheel_name, wheel = build_wheel(ws)
    install = INSTALL.format(
        assignment=assignment, wheel=wheel_name,
        first=f"{assignment}/{notebooks[0]}" if notebooks else f"{assignment}/",
        notebooks=", ".join(f"{assignment}/{n}" for n in notebooks))
    contents = {f"{assignment}/{p.relative_to(release).as_posix()}": p.read_bytes() for p in files}
    contents |= {f"{assignment}/{wheel_name}": wheel, f"{assignment}/INSTALL.txt": install.encode()}
    folders = {f"{assignment}/"} | {name[:name.rindex("/") + 1] for name in contents}
    dest = ws.bundle(assignment)
    with atomic_path(dest) as tmp:  # a refused bundle leaves the last good one in place
        with zipfile.ZipFile(tmp, "w") as bundle:
            for folder in sorted(folders):
                bundle.writestr(_entry(folder, FOLDER_MODE), b"")
            for name, data in sorted(contents.items()):
                bundle.writestr(_entry(name, FILE_MODE), data)
        check_bundle(tmp)
    return dest


def _members(archive: zipfile.ZipFile, prefix: str = ""):
    """(name, bytes) of every file in a zip, the files of zips inside it (the wheel) included."""
    for name in archive.namelist():
        data = archive.read(name)
        if name.endswith((".whl", ".zip")):
            yield from _members(zipfile.ZipFile(io.BytesIO(data)), f"{prefix}{name}!")
        else:
            yield prefix + name, data


def check_bundle(path: Path) -> None:
    """Raise BundleError if the bundle holds a notebook with solution or hidden-test markers, a
    notebook inside the wheel, or anything of ``solutions/`` or a mistake set."""
    with zipfile.ZipFile(path) as archive:
        for name, data in _members(archive):
            parts = name.replace("!", "/").split("/")
            leak = ("mistakes" in parts or "solutions" in parts
                    or (name.endswith(".ipynb") and ("!" in name or any(m.encode() in data for m in LEAK_MARKERS))))
            if leak:
                raise BundleError(f"the student bundle {path.name} would give away {name}; "
                                  "nothing was written")
