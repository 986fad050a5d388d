"""The student bundle: one assignment and a one-line install, never the answers."""

from __future__ import annotations

import io
import json
import shutil
import stat
import subprocess
import sys
import zipfile

import nbformat
import pytest

from gradlab_grader import bundle

from .conftest import HALVES, HIDDEN_CHECK, SOLUTION


@pytest.fixture(scope="module")
def zipped(released):
    path = released.root / "bundles" / "toy.zip"
    assert path.is_file(), "release writes a student bundle per assignment"
    return path


def _everything(path) -> dict[str, bytes]:
    """Every file in the bundle, the wheel's files included ('<wheel>!<name>')."""
    with zipfile.ZipFile(path) as archive:
        return dict(bundle._members(archive))


def test_bundle_is_one_folder_with_the_release_the_wheel_and_the_install_line(zipped, released):
    with zipfile.ZipFile(zipped) as archive:
        names = sorted(n for n in archive.namelist() if not n.endswith("/"))
        install = archive.read("toy/INSTALL.txt").decode()
        notebook = archive.read("toy/toy.ipynb")
    wheel = [n for n in names if n.endswith(".whl")]
    assert names == sorted(["toy/INSTALL.txt", "toy/toy.ipynb", *wheel]) and len(wheel) == 1
    assert wheel[0].startswith("toy/gradlab-") and f"pip install {wheel[0]}\n" in install
    assert notebook == (released.release("toy") / "toy.ipynb").read_bytes()


def test_the_wheel_is_the_course_library_alone(zipped):
    """The student's wheel holds gradlab and the students' lab settings; not the grader, whose
    dependencies (Dask, psycopg2 …) a student never needs."""
    files = _everything(zipped)
    (wheel,) = {name.split("!")[0] for name in files if "!" in name}
    inside = {name.split("!", 1)[1] for name in files if name.startswith(wheel + "!")}
    assert "gradlab/checks.py" in inside and not any(n.startswith("gradlab_grader/") for n in inside)
    (metadata,) = [n for n in inside if n.endswith(".dist-info/METADATA")]
    requires = {line.split(":", 1)[1].strip().split()[0].split(">")[0].split("=")[0].lower()
                for line in files[f"{wheel}!{metadata}"].decode().splitlines() if line.startswith("Requires-Dist:")}
    assert {"numpy", "matplotlib", "ipywidgets", "ipympl", "scikit-learn", "nbgrader"} <= requires
    assert not requires & {"dask", "distributed", "psycopg2-binary", "setuptools", "tqdm", "latex2mathml"}
    settings = {n.split("/data/", 1)[1] for n in inside if ".data/data/" in n}
    assert settings == {"etc/jupyter/jupyter_server_config.d/nbgrader_gradlab.json",
                        "etc/jupyter/labconfig/page_config.d/nbgrader_gradlab.json"}


@pytest.fixture(scope="module")
def two_bundles(tmp_path_factory):
    """Two assignments of one course, released: their bundles."""
    from gradlab_grader import Workspace, pipeline

    from .conftest import toy_notebook

    repo = tmp_path_factory.mktemp("course")
    for name in ("toy", "second"):
        (repo / "solutions" / name).mkdir(parents=True)
        nbformat.write(toy_notebook(), repo / "solutions" / name / f"{name}.ipynb")
    (repo / "lib" / "gradlab").mkdir(parents=True)
    ws = Workspace(repo / "grading", repo=repo)
    pipeline.release(ws, ["toy", "second"])
    for path in ws.release("toy").rglob("*"):      # the workspace's own modes do not reach students
        path.chmod(0o700 if path.is_dir() else 0o600)
    bundle.write_bundle(ws, "toy")
    return ws.bundle("toy"), ws.bundle("second")


@pytest.mark.skipif(shutil.which("unzip") is None, reason="needs Info-ZIP's unzip")
def test_bundles_unzip_side_by_side_readable(two_bundles, tmp_path):
    """What a student's unzip makes of two bundles in one course folder: a folder each, every
    file readable, nothing asked or overwritten, each INSTALL.txt about its own assignment."""
    for path in two_bundles:
        done = subprocess.run(["unzip", str(path)], cwd=tmp_path, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)
        assert done.returncode == 0 and "replace" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["second", "toy"]
    for name in ("toy", "second"):
        folder = tmp_path / name
        (wheel,) = folder.glob("gradlab-*.whl")
        assert sorted(p.name for p in folder.iterdir()) == sorted(["INSTALL.txt", f"{name}.ipynb", wheel.name])
        for path in [folder, *folder.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o755 if path.is_dir() else 0o644), f"{path}: {oct(mode)}"
        install = (folder / "INSTALL.txt").read_text()
        assert f"pip install {name}/{wheel.name}\n" in install and f"open {name}/{name}.ipynb" in install
        other = "second" if name == "toy" else "toy"
        assert f"{other}/" not in install
        assert "\n       jupyter lab\n" in install, "jupyter lab is started in the course folder"


def test_bundle_never_holds_solutions_hidden_tests_or_mistakes(zipped):
    files = _everything(zipped)
    assert any("!gradlab/checks.py" in name for name in files), "the wheel carries the library"
    solution_line = SOLUTION.splitlines()[2].strip()  # the instructor's answer
    for name, data in files.items():
        text = data.decode("utf-8", errors="ignore")
        assert "mistakes" not in name.split("/") and "solutions" not in name.split("/"), name
        assert solution_line not in text and HIDDEN_CHECK not in text, name
        assert HALVES.splitlines()[0] not in text, name
        if name.endswith(".ipynb"):
            assert "!" not in name and "BEGIN" not in text, name


def test_the_install_line_works_offline(zipped, tmp_path):
    with zipfile.ZipFile(zipped) as archive:
        archive.extractall(tmp_path / "bundle")
    (wheel,) = (tmp_path / "bundle").glob("toy/gradlab-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                    "--disable-pip-version-check", "--target", str(tmp_path / "site"), str(wheel)], check=True)
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import gradlab, gradlab.checks, json; "
             "print(json.dumps([gradlab.__file__, hasattr(gradlab.checks, 'assert_close')]))")
    out = subprocess.run([sys.executable, "-I", "-c", probe, str(tmp_path / "site")], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    where, has_checks = json.loads(out)
    assert where.startswith(str(tmp_path / "site")) and has_checks


@pytest.mark.parametrize("member, content", [("toy/toy.ipynb", "### BEGIN SOLUTION\nreturn 2 * x"),
                                             ("toy/mistakes/halves.py", "def double(x): return x")])
def test_a_bundle_that_would_give_something_away_is_refused(tmp_path, member, content):
    path = tmp_path / "leaky.zip"
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as wheel:
        wheel.writestr("gradlab/__init__.py", "")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("gradlab-0-py3-none-any.whl", inner.getvalue())
        archive.writestr(member, content)
    with pytest.raises(bundle.BundleError, match="would give away"):
        bundle.check_bundle(path)
