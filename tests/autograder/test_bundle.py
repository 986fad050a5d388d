"""The student bundle: one assignment and a one-line install, never the answers."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

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


def test_bundle_holds_the_release_the_wheel_and_the_install_line(zipped, released):
    with zipfile.ZipFile(zipped) as archive:
        names = sorted(archive.namelist())
        install = archive.read("INSTALL.txt").decode()
        notebook = archive.read("toy/toy.ipynb")
    wheel = [n for n in names if n.endswith(".whl")]
    assert names == sorted(["INSTALL.txt", "toy/toy.ipynb", *wheel]) and len(wheel) == 1
    assert wheel[0].startswith("gradlab-") and f"pip install {wheel[0]}" in install
    assert notebook == (released.release("toy") / "toy.ipynb").read_bytes()


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
    (wheel,) = (tmp_path / "bundle").glob("gradlab-*.whl")
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
