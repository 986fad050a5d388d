"""Every assignment: the lecture runs, the release is clean and current, grading is exact.

Each assignment's demo class (gradlab_grader.demo: the generic students plus one per file of
its mistake set, ``solutions/<a>/mistakes/``) is graded once per module: a perfect submission
must earn full marks, the untouched release nothing, and every typical mistake exactly the
points of the exercise it breaks (or its ``costs``) — no more (tests are independent of each
other) and no less (hidden tests catch it) — with the hint the mistake should trigger.
An assignment without a mistake set fails here: no notebook skips end-to-end grading.
"""

from __future__ import annotations

import html
import re

import nbformat
import pytest
from nbclient import NotebookClient

from gradlab_grader import Workspace, mistakes, pipeline
from gradlab_grader.cells import exercise_of_cells, exercise_points, grade_id, nbgrader_meta
from gradlab_grader.demo import write_inbox

from conftest import REPO

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
NOTEBOOKS = sorted((REPO / "solutions").glob("*/*.ipynb"))
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_solution_notebook_runs_cleanly(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors
    # a passing test cell shows its verdict (printed text) and nothing else: a test that ends
    # on a bare expression would print its reference values into the graded notebook
    shown = [(grade_id(c), o.output_type) for c in nb.cells if nbgrader_meta(c).get("grade")
             and not nbgrader_meta(c).get("solution") for o in c.outputs if o.output_type != "stream"]
    assert not shown, f"test cells that show more than their verdict: {shown}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_source_notebook_is_well_formed(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    ids = [grade_id(c) for c in nb.cells]
    assert None not in ids, "every cell carries nbgrader metadata with a grade_id"
    assert len(ids) == len(set(ids)), "grade_ids are unique"
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    # hidden tests carry most of the points of every exercise
    owner = exercise_of_cells(nb)
    for exercise in set(owner.values()):
        cells = [c for c in nb.cells if owner.get(grade_id(c)) == exercise]
        hidden = sum(nbgrader_meta(c)["points"] for c in cells if "BEGIN HIDDEN TESTS" in c.source)
        total = sum(nbgrader_meta(c)["points"] for c in cells)
        assert len(cells) >= 3 and hidden > total / 2, exercise


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_is_current_and_clean(assignment, tmp_path):
    """course/ is generated: a fresh release from solutions/ reproduces it byte for byte."""
    ws = Workspace(tmp_path / "ws", repo=REPO)
    pipeline.release(ws, [assignment], course=tmp_path / "course")
    fresh = sorted(p.relative_to(tmp_path / "course") for p in (tmp_path / "course").rglob("*") if p.is_file())
    committed = sorted(p.relative_to(REPO / "course") for p in (REPO / "course" / assignment).rglob("*")
                       if p.is_file())
    assert fresh == committed, "course/ is stale: run `make release` and commit course/"
    assert not [rel for rel in fresh if mistakes.MISTAKES_DIR in rel.parts], "the mistake set was released"
    for rel in fresh:
        text = (REPO / "course" / rel).read_text()
        assert text == (tmp_path / "course" / rel).read_text(), f"course/{rel} differs: run `make release`"
        for marker in pipeline.LEAK_MARKERS:
            assert marker not in text


# -- the demo class, graded for real ------------------------------------------------------------

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_assignment_has_a_mistake_set(assignment):
    """A new notebook brings its typical mistakes, so the demo and the tests below grade it."""
    found = mistakes.load(REPO / "solutions" / assignment)
    assert found, (f"solutions/{assignment}/{mistakes.MISTAKES_DIR}/ holds no mistake: add one "
                   "<name>.py per typical mistake (see gradlab_grader.mistakes)")


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded_class(request, tmp_path_factory):
    assignment = request.param
    ws = Workspace(tmp_path_factory.mktemp("grading"), repo=REPO)
    pipeline.release(ws, [assignment], course=ws.root / "course-copy")
    inbox = ws.root / "inbox"
    students = write_inbox(ws, assignment, inbox)
    collected = pipeline.collect(ws, assignment, inbox)
    assert not collected.renamed
    results = {r.student: r for r in pipeline.autograde(ws, assignment, progress=False)}
    return ws, assignment, {s.name: s for s in students}, results, collected.rejected


def _points(assignment):
    """{exercise: points} from the source notebooks' metadata."""
    points = {}
    for path in (REPO / "solutions" / assignment).glob("*.ipynb"):
        points.update(exercise_points(nbformat.read(path, as_version=4)))
    return points


def test_perfect_submission_scores_full_marks(graded_class):
    _, assignment, _, results, _ = graded_class
    perfect = results["perfect"]
    assert perfect.max_score == sum(_points(assignment).values())
    assert perfect.score == perfect.max_score, perfect.lost()
    assert not perfect.problems


def test_demo_class_hands_in_with_nbgraders_timestamp(graded_class):
    # the demo class hands in as nbgrader's exchange does: every time known, nobody penalised
    _, _, _, results, _ = graded_class
    assert all(r.submitted_at and not r.late_penalty for r in results.values())


def test_untouched_release_scores_zero(graded_class):
    _, _, students, results, _ = graded_class
    untouched = results["untouched"]
    assert untouched.score == 0 and untouched.max_score > 0
    assert {c.diagnostic for c in untouched.cells} == {students["untouched"].hint}


def test_each_mistake_costs_exactly_its_exercise(graded_class):
    _, assignment, students, results, _ = graded_class
    points = _points(assignment)
    mistake_set = mistakes.load(REPO / "solutions" / assignment)
    assert mistake_set and {m.name for m in mistake_set} <= set(results)
    for mistake in mistake_set:
        result = results[mistake.name]
        if mistake.flagged_only:  # calls the reference: the tests pass, the code is flagged
            assert result.lost() == {} and any("reference" in p for p in result.problems), \
                f"{mistake.name}: lost {result.lost()}, problems {result.problems}"
            continue
        cost = points[mistake.exercise] if mistake.costs is None else mistake.costs
        assert result.lost() == {mistake.exercise: cost}, f"{mistake.name} ({mistake.story})"
        failing = {c.diagnostic for c in result.cells if c.score < c.max_score}
        assert failing == {mistake.hint}, f"{mistake.name}: hints {failing}"


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_each_failing_test_shows_one_short_message(graded_class):
    """What a student sees under a failing test (in JupyterLab, Validate and feedback alike):
    one plain "Test failed: …" of at most three lines, no traceback and no check code, while the
    error line keeps the code for the grader.  An unfinished exercise — every exercise of the
    untouched release — says "not implemented yet" in every one of its tests.  Needs
    ``checks.install_handler()`` in the notebook's setup cell."""
    ws, assignment, students, results, rejected = graded_class
    for name in set(students) - set(rejected):
        for path in ws.autograded(name, assignment).glob("*.ipynb"):
            for cell in nbformat.read(path, as_version=4).cells:
                errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
                where = f"{name}: {grade_id(cell)}"
                if not nbgrader_meta(cell).get("grade"):
                    continue
                assert errors or name != "untouched", f"{where} passed on the unfinished release"
                assert len(errors) <= 1, f"{where}: {len(errors)} error outputs, one expected"
                for error in errors:
                    text = ANSI.sub("", "\n".join(error.traceback))
                    assert text.startswith("Test failed: ") and len(error.traceback) <= 3, f"{where}:\n{text}"
                    assert "(check:" not in text and "(check:" in error.evalue, f"{where}: {error.evalue}"
                    if name == "untouched":
                        assert text.endswith("is not implemented yet\n  replace `raise "
                                             "NotImplementedError()` with your code"), f"{where}:\n{text}"


def test_tripwire_submissions_are_flagged(graded_class):
    _, _, students, results, _ = graded_class
    for name, student in students.items():
        flagged = bool(results[name].problems)
        assert flagged == (student.hint == "tripwire"), name


def test_broken_file_is_rejected_not_fatal(graded_class):
    _, _, students, results, rejected = graded_class
    assert "broken_json" in rejected and "not a valid notebook" in rejected["broken_json"]
    assert set(results) == set(students)


@pytest.fixture(scope="module")
def feedback_pages(graded_class):
    ws, assignment, students, _, _ = graded_class
    pages, failed = pipeline.feedback(ws, assignment, progress=False)
    assert len(pages) == len(students) and not failed
    return pages


def test_feedback_never_shows_hidden_tests(graded_class, feedback_pages):
    ws, assignment, students, _, _ = graded_class
    pages = feedback_pages
    hidden_lines = {line.strip() for path in (REPO / "solutions" / assignment).glob("*.ipynb")
                    for cell in nbformat.read(path, as_version=4).cells
                    for block in HIDDEN.findall(cell.source) for line in block.splitlines()
                    if len(line.strip()) > 25 and not line.strip().startswith("#")}
    visible = {line.strip() for path in (ws.root / "course-copy" / assignment).glob("*.ipynb")
               for cell in nbformat.read(path, as_version=4).cells for line in cell.source.splitlines()}
    hidden_lines -= visible  # a line the student sees anyway (imports, a shared helper) gives nothing away
    assert hidden_lines
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        shown = hidden_lines & {line.strip() for line in text.splitlines()}
        assert not shown, f"{page} shows hidden test code: {sorted(shown)[:2]}"


def test_feedback_page_is_named_offline_and_relative(graded_class, feedback_pages):
    """The page a student opens: every test named by its exercise in the contents, math drawn
    without the internet, long hint lines wrapped, no path of the grading machine."""
    import sys

    ws, assignment, _, _, _ = graded_class
    source = nbformat.read(next((REPO / "solutions" / assignment).glob("*.ipynb")), as_version=4)
    owner = exercise_of_cells(source)
    page = next(p for p in feedback_pages if p.parent.parent.name == "untouched").read_text()
    contents = page.split('<div id="toc">', 1)[1].split("</ol>", 1)[0]
    entries = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', contents)
    named = {gid: label for gid, label in entries if gid in owner}
    assert set(named) == set(owner) and "Test cell" not in contents
    for gid, label in named.items():
        assert label.startswith(owner[gid] + " · "), (gid, label)
    assert len(set(named.values())) == len(named), "two tests share a name"
    # offline: nothing loaded from elsewhere, the LaTeX of the markdown cells is MathML
    assert not re.search(r'<(script|link|img)[^>]*(src|href)="?(https?:)?//', page)
    assert "MathJax" not in page and page.count("<math") >= 10
    markdown = "".join(re.findall(r'<div class="text_cell_render[^"]*">(.*?)</div>', page, re.S))
    assert markdown and not re.search(r"\$[^$<]+\$", re.sub(r"<code>.*?</code>", "", markdown, flags=re.S))
    assert "white-space: pre-wrap" in page
    for root in {str(REPO), str(ws.root), sys.prefix, "/home/", "/tmp/", "/root/"}:
        assert root not in page, f"the page shows the grading machine's path {root}"
