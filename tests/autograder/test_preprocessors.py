"""HideHiddenTests: hidden-test source and the traceback frames quoting it leave the feedback."""

from nbformat.v4 import new_code_cell, new_notebook, new_output

from gradlab_grader.preprocessors import HideHiddenTests

from .conftest import _meta

TEST_CELL = _meta("t", grade=True, points=1)


def test_hidden_region_and_traceback_are_removed():
    cell = new_code_cell(
        "# visible line\n### BEGIN HIDDEN TESTS\nassert secret(3) == 4\n### END HIDDEN TESTS",
        metadata=TEST_CELL,
        outputs=[new_output("error", ename="CheckFailure", evalue="secret: 2× the reference",
                            traceback=["frame quoting assert secret(3) == 4", "CheckFailure: secret: 2×"])])
    student = new_code_cell("x = 1  # ### BEGIN HIDDEN TESTS (a student's stray marker, never closed)",
                            metadata=_meta("answer", solution=True, locked=False))
    nb = new_notebook(cells=[cell, student])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    out = nb.cells[0]
    assert "secret" not in out.source and "visible line" in out.source
    assert "hidden tests ran here" in out.source
    assert out.outputs[0].traceback == ["\x1b[0;31mCheckFailure\x1b[0m: secret: 2× the reference"]
    assert nb.cells[1].source.startswith("x = 1  # ### BEGIN HIDDEN TESTS")


def test_notes_that_quote_hidden_arguments_are_dropped():
    cell = new_code_cell(
        "### BEGIN HIDDEN TESTS\ncheck(f(secret_input))\n### END HIDDEN TESTS",
        metadata=TEST_CELL,
        outputs=[new_output("error", ename="AttributeError", evalue="'NoneType' object has no attribute 'shape'",
                            traceback=["frame", "AttributeError: 'NoneType' object has no attribute 'shape'",
                                       "(raised inside f(array([0.7, 0.2])))"])])
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=[cell]), {})
    (line,) = nb.cells[0].outputs[0].traceback
    assert "AttributeError" in line and "shape" in line and "0.7" not in line


def test_test_cells_are_tagged_at_release_and_only_there(released):
    """Run All goes on past a failing test: every test cell of the release is tagged
    raises-exception; answer and other cells are not, and the source notebook stays clean."""
    import nbformat

    source = nbformat.read(released.solutions / "toy" / "toy.ipynb", as_version=4)
    release = nbformat.read(released.course / "toy" / "toy.ipynb", as_version=4)
    assert not any(c.metadata.get("tags") for c in source.cells)
    tags = {c.metadata["nbgrader"]["grade_id"]: c.metadata.get("tags", []) for c in release.cells}
    assert tags == {"intro": [], "imports": [], "double": [],
                    "test_double_visible": ["raises-exception"], "test_double_hidden": ["raises-exception"]}


def test_tag_test_cells_keeps_other_tags_and_is_configurable():
    from gradlab_grader.preprocessors import TagTestCells

    cells = [new_code_cell("check()", metadata={**TEST_CELL, "tags": ["slow"]}),
             new_code_cell("check()", metadata={**TEST_CELL, "tags": ["raises-exception"]}),
             new_code_cell("def f(): pass", metadata=_meta("f", solution=True, locked=False))]
    nb, _ = TagTestCells().preprocess(new_notebook(cells=cells), {})
    assert [c.metadata.get("tags", []) for c in nb.cells] == [["slow", "raises-exception"], ["raises-exception"], []]
    nb, _ = TagTestCells(tags=["skip-execution"]).preprocess(new_notebook(cells=[cells[2], cells[0]]), {})
    assert nb.cells[1].metadata["tags"] == ["slow", "raises-exception", "skip-execution"]


# -- the feedback page's preprocessors ---------------------------------------------------------

def test_hidden_test_shows_only_its_name_when_the_instructor_says_so():
    cell = new_code_cell("### BEGIN HIDDEN TESTS\ncheck(f(secret))\n### END HIDDEN TESTS", metadata=TEST_CELL,
                         outputs=[new_output("error", ename="CheckFailure", evalue="f([0.7]): expected 1.4",
                                             traceback=["frame", "CheckFailure: f([0.7]): expected 1.4"])])
    nb, _ = HideHiddenTests(show_message=False).preprocess(new_notebook(cells=[cell]), {})
    (line,) = nb.cells[0].outputs[0].traceback
    assert "Hidden test failed" in line and line.endswith(": t") and "0.7" not in line


def test_math_becomes_mathml_and_code_stays_code():
    from gradlab_grader.preprocessors import RenderMath

    source = ("Slope $\\frac{f(a+h)-f(a)}{h}$ and\n$$\nf'(a) = \\lim_{h \\to 0} q(h)\n$$\n"
              "but `cost = $5` and ```\nx = '$y$'\n``` stay, as does a price of 5 $.")
    out = RenderMath.render(source)
    assert out.count("<math") == 2 and '<math display="inline"><mrow><mfrac>' in out
    assert '<math display="block">' in out and "<mo>lim</mo>" in out
    assert "`cost = $5`" in out and "x = '$y$'" in out and "5 $." in out
    assert "\\frac" not in out and "\\lim" not in out
    wrapped = RenderMath.render("the gradient $\\nabla z =\n(a, b)$ wraps; $a$\n\n$b$ are two")
    assert wrapped.count("<math") == 3 and "$" not in wrapped


def test_paths_are_cut_to_the_course():
    from gradlab_grader.preprocessors import RelativePaths

    traceback = ["\x1b[0;32mFile \x1b[0;32m/home/ta/gradlab/lib/gradlab/checks.py:197\x1b[0m, in check",
                 "File /opt/py/lib/python3.11/site-packages/numpy/core/numeric.py:12, in isclose",
                 "File /srv/elsewhere/helper.py:3"]
    cell = new_code_cell("", outputs=[new_output("error", ename="E", evalue="in /home/ta/gradlab/x.py",
                                                 traceback=traceback),
                                      new_output("stream", name="stderr", text="/home/ta/gradlab/lib/a.py:1\n")])
    roots = ["/home/ta/gradlab", "/opt/py/lib/python3.11/site-packages", "/opt/py"]
    nb, _ = RelativePaths(roots=roots).preprocess(new_notebook(cells=[cell]), {})
    error, stream = nb.cells[0].outputs
    assert "lib/gradlab/checks.py:197" in error.traceback[0] and "/home" not in error.traceback[0]
    assert "File numpy/core/numeric.py:12" in error.traceback[1]
    assert error.traceback[2] == "File helper.py:3" and error.evalue == "in x.py"
    assert stream.text == "lib/a.py:1\n"


def test_tests_are_labelled_by_exercise_and_test():
    from gradlab_grader.preprocessors import LabelTests

    nb = new_notebook(cells=[new_code_cell("", metadata=_meta("double", solution=True, locked=False)),
                             new_code_cell("", metadata=_meta("test_double_hidden_1", grade=True, points=1)),
                             new_code_cell("", metadata=_meta("check_it", grade=True, points=1))])
    nb, _ = LabelTests().preprocess(nb, {})
    assert [c.metadata.get("gradlab", {}).get("label") for c in nb.cells] == [
        None, "double · hidden 1", "double · check it"]


def _verdict(preprocessor, nb):
    """What a metadata check says of ``nb``: None, or the error nbgrader's validator raised."""
    from nbgrader.nbgraderformat import MetadataValidator

    try:
        if preprocessor is None:
            MetadataValidator().validate_nb(nb)
        else:
            preprocessor.validate_nb(nb)
    except Exception as exc:
        return type(exc).__name__, str(exc).splitlines()[0]
    return None


def test_compiled_metadata_check_says_what_nbgrader_says():
    """The compiled schema check gives nbgrader's verdict on good and on corrupted metadata."""
    import copy

    from gradlab_grader.preprocessors.checkmetadata import CompiledMetadataValidator, validator

    good = new_notebook(cells=[new_code_cell("x = 1", metadata=_meta("a", solution=True, locked=False)),
                               new_code_cell("assert x", metadata=_meta("t", grade=True, points=2)),
                               new_code_cell("plain")])
    corruptions = {
        "points as text": lambda m: m.update(points="two"),
        "grade not a bool": lambda m: m.update(grade="yes"),
        "grade id missing": lambda m: m.pop("grade_id"),
        "grade id empty": lambda m: m.update(grade_id=""),
        "points missing": lambda m: m.pop("points"),
        "schema too old": lambda m: m.update(schema_version=1),
        "schema too new": lambda m: m.update(schema_version=99),
        "unknown key": lambda m: m.update(colour="red"),
        "locked missing": lambda m: m.pop("locked"),
    }
    assert _verdict(validator(), good) is None is _verdict(None, good)
    verdicts = {}
    for name, corrupt in corruptions.items():
        nb = copy.deepcopy(good)
        corrupt(nb.cells[1].metadata["nbgrader"])
        ours, theirs = _verdict(CompiledMetadataValidator(), nb), _verdict(None, nb)
        assert ours == theirs, (name, ours, theirs)
        verdicts[name] = ours
    rejected = {name for name, v in verdicts.items() if v is not None}
    assert rejected >= {"points as text", "grade not a bool", "grade id missing", "schema too old"}, verdicts
