"""Mistake sets beside the sources: parsed from their files, checked against the notebook,
never released, and turned into one demo student each."""

from __future__ import annotations

import nbformat
import pytest

from gradlab_grader import cli, demo
from gradlab_grader.cells import grade_id, is_answer
from gradlab_grader.mistakes import MISTAKES_DIR, Mistake, MistakeError, load, parse

from .conftest import HALVES, toy_notebook


@pytest.fixture
def assignment(tmp_path):
    """A toy assignment folder with an empty mistake set to fill."""
    nbformat.write(toy_notebook(), tmp_path / "toy.ipynb")
    (tmp_path / MISTAKES_DIR).mkdir()
    return tmp_path


def write(assignment, name, text):
    path = assignment / MISTAKES_DIR / f"{name}.py"
    path.write_text(text)
    return path


def test_a_mistake_file_is_its_header_and_the_answer_source(assignment):
    write(assignment, "halves", HALVES)
    write(assignment, "rounds", "# story: rounds the result\n# exercise: double\n# hint: close\n# costs: 2\n\n"
          "def double(x):\n    return np.round(2 * np.asarray(x, dtype=float))\n")
    halves, rounds = load(assignment)
    assert halves == Mistake("halves", "returns x instead of 2x", "double", "factor",
                             "def double(x):\n    return np.asarray(x, dtype=float)\n")
    assert rounds.costs == 2.0 and rounds.source.startswith("def double(x):\n")


def test_a_mistake_may_state_the_message_its_tests_show(assignment):
    write(assignment, "halves", "# story: returns x\n# exercise: double\n# hint: factor\n"
          "# message: a missing factor 2, or an extra ½\ndef double(x):\n    return x\n")
    (halves,) = load(assignment)
    assert halves.message == "a missing factor 2, or an extra ½" and halves.source == "def double(x):\n    return x\n"
    write(assignment, "halves", HALVES)
    assert load(assignment)[0].message is None


@pytest.mark.parametrize("text, line, says", [
    ("# story: s\n# exercise double\n# hint: factor\nx = 1\n", 2, "`# key: value`"),
    ("# story: s\n# exercise: double\n# hint: factor\n# points: 2\nx = 1\n", 4, "unknown header key 'points'"),
    ("# story: s\n# exercise: double\n# story: t\n# hint: factor\nx = 1\n", 3, "'story' is repeated"),
    ("# story: s\n# exercise: double\nx = 1\n", 1, "lacks hint"),
    ("# story: s\n# exercise: double\n# hint: factor\n# costs: two\nx = 1\n", 4, "number of points"),
    ("# story: s\n# exercise: double\n# hint: factor\n\n", 4, "no answer source"),
])
def test_a_malformed_header_names_the_file_and_line(assignment, text, line, says):
    path = write(assignment, "bad", text)
    with pytest.raises(MistakeError, match=f"^{path}:{line}: .*{says}"):
        parse(path)


@pytest.mark.parametrize("exercise", ["dobule", "test_double_visible", "intro"])
def test_a_mistake_must_replace_an_answer_cell(assignment, exercise):
    path = write(assignment, "stray", f"# story: s\n# exercise: {exercise}\n# hint: factor\nx = 1\n")
    with pytest.raises(MistakeError, match=f"^{path}:2: exercise '{exercise}' is not an answer cell.*double"):
        load(assignment)


def test_no_mistake_folder_is_an_empty_set(tmp_path):
    nbformat.write(toy_notebook(), tmp_path / "toy.ipynb")
    assert load(tmp_path) == []


def test_the_mistake_set_is_never_released(released):
    assert (released.solutions / "toy" / MISTAKES_DIR / "halves.py").is_file()
    for folder in (released.source("toy"), released.release("toy"), released.course / "toy"):
        assert folder.is_dir() and not list(folder.rglob("*.py")), folder


def test_the_demo_class_is_the_generic_students_plus_one_per_mistake(released):
    students = demo.students(released.solutions / "toy")
    assert [s.name for s in students] == ["perfect", "untouched", "halves"]
    source = nbformat.read(released.solutions / "toy" / "toy.ipynb", as_version=4)
    given = nbformat.read(released.course / "toy" / "toy.ipynb", as_version=4)
    answers = {s.name: {grade_id(c): c.source for c in demo.build_submission(source, given, s).cells
                        if is_answer(c)} for s in students}
    assert answers["perfect"] == {"double": "def double(x):\n    return 2 * np.asarray(x, dtype=float)"}
    assert answers["untouched"] == {grade_id(c): c.source for c in given.cells if is_answer(c)}
    assert "raise NotImplementedError()" in answers["untouched"]["double"]
    assert answers["halves"] == {"double": "def double(x):\n    return np.asarray(x, dtype=float)\n"}


def test_demo_of_an_unknown_assignment_wipes_nothing(released, tmp_path, capsys):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "keep.txt").write_text("grades")
    code = cli.main(["--repo", str(released.repo), "--workspace", str(tmp_path / "ws"), "demo",
                     "--assignment", "nope"])
    assert code == 2 and "no assignment 'nope'" in capsys.readouterr().err
    assert (tmp_path / "ws" / "keep.txt").read_text() == "grades"
