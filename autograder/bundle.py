"""The student bundle: one assignment, ready to upload to an LMS or nbgrader's exchange.

``gradlab release`` writes ``<workspace>/bundles/<a>.zip`` for each assignment::

    <a>/<a>.ipynb ...                  the released notebook(s) and their files
    gradlab-<version>-py3-none-any.whl the course library (and its checks), built here
    INSTALL.txt                        the one line that installs it, and what to do next

Students never need the repository (which holds ``solutions/`` and its hidden tests).  The wheel
is built with ``pip wheel --no-deps`` from a copy of the package sources alone (``lib/``,
``autograder/``, ``pyproject.toml``), so no solution, hidden test or mistake set can ride along;
:func:`check_bundle` refuses a bundle that holds one all the same.  The library's dependencies
(NumPy, Matplotlib, JupyterLab …) come from the student's package index as usual.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .cells import LEAK_MARKERS
from .workspace import Workspace

# what the wheel is built from; nothing else of the source tree is copied to build it
PACKAGE_SOURCES = ("pyproject.toml", "README.md", "lib", "autograder")
_built: dict[str, bytes] = {}  # sources digest -> wheel bytes, so one process builds it once


class BundleError(RuntimeError):
    """The bundle could not be built, or would give something away."""


def package_tree(ws: Workspace) -> Path:
    """The source tree of the gradlab package: the one this grader runs from when it has a
    ``pyproject.toml`` (an editable install), else the workspace's repository."""
    here = Path(__file__).resolve().parent.parent
    for tree in (here, ws.repo):
        if (tree / "pyproject.toml").is_file() and (tree / "lib" / "gradlab").is_dir():
            return tree
    raise BundleError(f"no pyproject.toml beside lib/gradlab in {here} or {ws.repo}: the student "
                      "bundle needs the gradlab sources to build the library's wheel")


def _sources(tree: Path) -> list[Path]:
    files = []
    for name in PACKAGE_SOURCES:
        path = tree / name
        files += [path] if path.is_file() else sorted(
            p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and not any(part.endswith(".egg-info") for part in p.parts))
    return files


def build_wheel(ws: Workspace) -> tuple[str, bytes]:
    """``(file name, bytes)`` of the gradlab wheel, built from a copy of the package sources
    (``pip wheel --no-deps --no-build-isolation``: offline, with the setuptools installed here)."""
    tree = package_tree(ws)
    files = _sources(tree)
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
            wheels = sorted(out.glob("gradlab-*.whl"))
            if done.returncode or not wheels:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise BundleError(f"building the gradlab wheel failed: {last}")
            _built[key] = (wheels[0].name, wheels[0].read_bytes())
    return _built[key]


INSTALL = """\
{assignment} — gradlab course

1. Install the course library, once, into the Python you run Jupyter with:

       pip install {wheel}

   (its dependencies, NumPy, Matplotlib, JupyterLab and friends, come from your package index)

2. Open the assignment and work top to bottom:

       jupyter lab {assignment}/{first}

3. Hand in {notebooks} the way your instructor asks.
"""


def bundle_path(ws: Workspace, assignment: str) -> Path:
    return ws.root / "bundles" / f"{assignment}.zip"


def write_bundle(ws: Workspace, assignment: str) -> Path:
    """Write ``<workspace>/bundles/<assignment>.zip`` from the release of ``assignment``."""
    release = ws.release(assignment)
    files = sorted(p for p in release.rglob("*") if p.is_file())
    notebooks = [p.relative_to(release).as_posix() for p in files if p.suffix == ".ipynb"]
    wheel_name, wheel = build_wheel(ws)
    dest = bundle_path(ws, assignment)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in files:
            bundle.write(path, f"{assignment}/{path.relative_to(release).as_posix()}")
        bundle.writestr(wheel_name, wheel)
        bundle.writestr("INSTALL.txt", INSTALL.format(
            assignment=assignment, wheel=wheel_name, first=notebooks[0] if notebooks else "",
            notebooks=", ".join(f"{assignment}/{n}" for n in notebooks)))
    try:
        check_bundle(tmp)
    except BundleError:
        tmp.unlink()
        raise
    tmp.replace(dest)
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
