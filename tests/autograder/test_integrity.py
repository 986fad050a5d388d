"""Hostile and broken submissions: each is scored fairly, flagged, and stops nobody else."""

from __future__ import annotations

import nbformat
import pytest

from gradlab_grader import Workspace, pipeline
from gradlab_grader.cells import is_test
from gradlab_grader.pipeline import failure_reason
from gradlab_grader.recording.integrity import inspect_submission

from .conftest import answer, write_inbox

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

GOOD = "def double(x):\n    return 2.0 * np.asarray(x, dtype=float)"
HALF = "def double(x):\n    return np.asarray(x, dtype=float)"


def problems(result) -> str:
    return "; ".join(result.problems)


def _skip_tests(cell, meta):
    if meta.get("grade"):
        cell.metadata.setdefault("tags", []).append("skip-execution")


def _drop_tests(nb):
    nb.cells = [c for c in nb.cells if not is_test(c)]
    return nb


def _strip_metadata(cell, meta):
    cell.metadata = {}


@pytest.fixture(scope="module")
def hostile(released, tmp_path_factory):
    # the one hang tested is endless; every other toy cell runs in milliseconds, with room for a loaded machine
    ws = Workspace(tmp_path_factory.mktemp("hostile"), repo=released.repo, cell_timeout=15)
    pipeline.release(ws, ["toy"], course=ws.root / "course-copy")
    ws_course = released  # the toy release to start submissions from
    inbox = write_inbox(tmp_path_factory.mktemp("inbox"), {
        "good": answer(ws_course, GOOD),
        "skips_tests": answer(ws_course, HALF, edit=_skip_tests),
        "deletes_tests": _drop_tests(answer(ws_course, GOOD)),
        "strips_metadata": answer(ws_course, GOOD, edit=_strip_metadata),
        "kills_kernel": answer(ws_course, "import os\nos._exit(1)"),
        "sleeps": answer(ws_course, "import time\nwhile True:\n    time.sleep(1)"),
        "patches_checks": answer(ws_course, HALF + "\nchecks.assert_close = lambda *args, **kwargs: None"),
        "stray_marker": answer(ws_course, GOOD + "\n# ### BEGIN HIDDEN TESTS"),
    })
    pipeline.collect(ws, "toy", inbox)
    results = {r.student: r for r in pipeline.autograde(ws, "toy", progress=False)}
    results["feedback"] = pipeline.feedback(ws, "toy", progress=False)
    results["workspace"] = ws
    return results


def test_feedback_is_written_for_every_graded_submission(hostile):
    pages, failed = hostile["feedback"]
    assert not failed
    graded = {name for name, r in hostile.items()
              if name not in ("feedback", "workspace") and "could not be graded" not in problems(r)}
    assert {p.parent.parent.name for p in pages} == graded
    assert hostile["stray_marker"].score == 3


def test_the_honest_student_is_unaffected(hostile):
    assert hostile["good"].score == 3 and not hostile["good"].problems


def test_skip_execution_tags_are_ignored(hostile):
    r = hostile["skips_tests"]
    assert r.score == 0, "tagged test cells must still run"
    assert [c.diagnostic for c in r.cells] == ["factor", "factor"]
    assert "tagged to change how they run (skip-execution)" in problems(r)


def test_deleted_tests_score_zero_and_are_flagged(hostile):
    r = hostile["deletes_tests"]
    assert r.score == 0 and "deleted" in problems(r)


def test_stripped_metadata_is_flagged(hostile):
    r = hostile["strips_metadata"]
    assert r.score == 0 and "metadata" in problems(r)


def test_a_dead_kernel_costs_the_cell_that_killed_it(hostile):
    """The answer cell stops the kernel: it never defines double, so the tests (run in a fresh
    kernel) fail on their own; the submission is graded, not lost."""
    r = hostile["kills_kernel"]
    assert r.score == 0 and "stopped the kernel" in problems(r)
    assert "could not be graded" not in problems(r)
    assert [c.error.split(":")[0] for c in r.cells] == ["NameError", "NameError"]


def test_an_endless_cell_hits_the_time_limit(hostile):
    r = hostile["sleeps"]
    assert r.score == 0 and "time limit" in problems(r)


def test_monkeypatching_the_checks_is_flagged(hostile):
    assert "checks.assert_close = …" in problems(hostile["patches_checks"])


def test_the_findings_are_read_from_the_ledger_not_checked_again(hostile, monkeypatch):
    """The integrity check runs once, when the writer records the submission; reading results
    takes its findings from the ledger entry.  An entry written before entries kept them is
    checked when it is read."""
    from gradlab_grader.outputs import results
    from gradlab_grader.recording.ledger import Ledger

    ws = hostile["workspace"]
    book = Ledger(ws, "toy")
    entry = book.get("patches_checks")
    assert any("checks.assert_close = …" in flag for flag in entry["flags"])
    expected = results.read_result(ws, "toy", "patches_checks").problems

    def no_second_check(*args):
        raise AssertionError("the integrity check ran again at read time")

    monkeypatch.setattr(results, "inspect_submission", no_second_check)
    assert results.read_result(ws, "toy", "patches_checks").problems == expected
    monkeypatch.undo()
    old = {k: v for k, v in entry.items() if k != "flags"}
    book.put(old)
    try:
        assert results.read_result(ws, "toy", "patches_checks").problems == expected
    finally:
        book.put(entry)


@pytest.mark.parametrize("source, found", [
    ("from gradlab import checks\nchecks.compare = lambda *a, **k: None",
     ["from gradlab import checks", "checks.compare = …"]),
    ("import gradlab.calculus as c\nc.hessian = mine", ["import gradlab.calculus as c", "c.hessian = …"]),
    ("import sys\ndef f(x):\n    sys.setprofile(None)\n    return x", ["sys.setprofile(…)"]),
    ("setattr(np, 'allclose', lambda *a: True)", ["setattr(…)"]),
    ("f.__code__ = g.__code__", ["f.__code__ = …", "g.__code__"]),
    ("vars(checks)['compare'] = None", ["vars(…)"]),
    ("exec('import os')", ["exec(…)"]),
    ("import sqlite3, numpy as np\nfrom os import path\nfrom gradlab import calculus",
     ["from gradlab import calculus", "import sqlite3", "import os"]),
    ("text = open('../../../source/x.ipynb').read()", ["open(…)"]),
    ("import threading", ["import threading"]),
    # ordinary answers: attributes of arrays and objects, subscripts of module dicts
    ("def f(x):\n    x = x.copy()\n    x.shape = (2,)\n    plt.rcParams['lines.lw'] = 2\n    return x", []),
    ("def f(:", []),
])
def test_monkeypatches_finds_rewrites_and_only_those(source, found):
    from gradlab_grader.recording.integrity import monkeypatches

    assert monkeypatches(source) == found


def test_inspect_submission_names_each_change(released):
    given = nbformat.read(released.course / "toy" / "toy.ipynb", as_version=4)
    assert inspect_submission(given, answer(released, GOOD)) == []

    def edit_test(cell, meta):
        if meta.get("grade_id") == "test_double_visible":
            cell.source = "pass"

    findings = inspect_submission(given, answer(released, GOOD, edit=edit_test))
    assert findings == ["test cells edited (test_double_visible): restored before grading"]


def test_failure_reason_picks_the_cause_and_explains_it():
    outcome = {"success": False, "log": "[INFO] start\n    nbclient.exceptions.DeadKernelError: Kernel died\n"
               "[ERROR] There was an error", "error": "nbgrader.converters.base.NbGraderException: see above"}
    reason = failure_reason(outcome)
    assert reason.startswith("DeadKernelError: Kernel died") and "os._exit" in reason
    assert "no reason" in failure_reason({"success": False, "log": "", "error": ""})


def test_a_later_release_does_not_make_everyone_a_suspect(released):
    """Findings compare with what the student was given (nbgrader's checksums), not today's release."""
    handed_in = answer(released, GOOD)
    rereleased = nbformat.read(released.course / "toy" / "toy.ipynb", as_version=4)
    for cell in rereleased.cells:
        if is_test(cell):
            cell.source += "\n# a typo fixed after the students downloaded the notebook"
    assert inspect_submission(rereleased, handed_in) == []


def test_only_execution_tags_the_release_did_not_give_are_flagged(released):
    """The release tags every test raises-exception; keeping or dropping that is no finding."""
    given = nbformat.read(released.course / "toy" / "toy.ipynb", as_version=4)
    assert any("raises-exception" in c.metadata.get("tags", []) for c in given.cells if is_test(c))

    def untag(cell, meta):
        cell.metadata["tags"] = []

    def tag_answer(cell, meta):
        if meta.get("solution"):
            cell.metadata["tags"] = ["raises-exception"]

    assert inspect_submission(given, answer(released, GOOD)) == []
    assert inspect_submission(given, answer(released, GOOD, edit=untag)) == []
    assert inspect_submission(given, answer(released, GOOD, edit=tag_answer)) == [
        "1 cells tagged to change how they run (raises-exception): ignored, every cell ran"]
    assert inspect_submission(given, answer(released, GOOD, edit=_skip_tests)) == [
        "2 cells tagged to change how they run (skip-execution): ignored, every cell ran"]


@pytest.mark.parametrize("code, finding", [
    # harmless: what a careful answer does
    ("import sys\nsys.setrecursionlimit(10_000)", None),
    ("import time, warnings, re, heapq\nfrom enum import Enum", None),
    # each flag says what was seen
    ("import os", "answer code imports what no answer needs (import os)"),
    ("np.allclose = lambda *a, **k: True", "answer code rewrites library or test code at run time (np.allclose = …)"),
    ("import sys\nsys.modules['gradlab.checks'] = fake", "answer code rewrites library or test code at run time "
                                                         "(sys.modules[…] = …)"),
    ("import sys\nsys.settrace(None)", "answer code switches call tracing (sys.settrace(…))"),
    ("exec('x = 1')", "answer code runs code built at run time (exec(…))"),
    ("import sys\nf = sys._getframe(1).f_locals", "answer code reaches into the interpreter's internals "
                                                  "(sys._getframe, sys._getframe(1).f_locals)"),
    ("text = open('x').read()", "answer code reads files (open(…))"),
])
def test_code_flags_say_what_was_seen_and_harmless_imports_are_none(released, code, finding):
    given = nbformat.read(released.course / "toy" / "toy.ipynb", as_version=4)
    findings = inspect_submission(given, answer(released, code + "\n" + GOOD))
    assert findings == ([finding] if finding else []), findings


# -- routes to gradlab's reference: the tests call the student's functions from the grader, so an
# answer that calls the reference itself passes them; reading the answer finds each route
REFERENCE = "answer code reaches gradlab's reference library"


def _relu_notebooks(body: str):
    """A released notebook whose locked cell binds ``checks`` and ``ref`` (gradlab.activations),
    and the submission with ``body`` as the answer to ``relu``."""
    from nbformat.v4 import new_code_cell, new_notebook

    from .conftest import _meta

    def notebook(answer_source):
        nb = new_notebook()
        imports = "import numpy as np\nfrom gradlab import checks\nfrom gradlab import activations as ref"
        nb.cells = [new_code_cell(imports, metadata=_meta("imports")),
                    new_code_cell(answer_source, metadata=_meta("relu", solution=True, locked=False)),
                    new_code_cell("checks.compare(relu, ref.relu, np.linspace(-1, 1, 5), forbid=(ref,))",
                                  metadata=_meta("test_relu", grade=True, points=1))]
        return nb

    return notebook("def relu(x):\n    raise NotImplementedError"), notebook(body)


@pytest.mark.parametrize("body, seen", [
    ("def relu(x):\n    return ref.relu(x)", "ref.relu"),                                   # the bound name
    ("r = ref\ndef relu(x):\n    return r.relu(x)", "r.relu"),                              # an alias
    ("s = ref\nr = s\ndef relu(x):\n    return r.relu(x)", "r.relu"),                      # an alias of an alias
    ("from gradlab.activations import relu as mine\nrelu = mine", "from gradlab.activations import relu as mine"),
    ("import gradlab\ndef relu(x):\n    return gradlab.activations.relu(x)", "import gradlab"),
    ("def relu(x):\n    return getattr(ref, 'relu')(x)", "getattr(ref, 'relu')"),
    ("def relu(x):\n    return getattr(ref, 're' + 'lu')(x)", "getattr(ref, …)"),          # a built string
    ("def relu(x):\n    return globals()['ref'].relu(x)", "globals()['ref'].relu"),
    ("def relu(x):\n    return vars()['ref'].relu(x)", "vars()['ref'].relu"),
    ("def relu(x):\n    return globals().get('ref').relu(x)", "globals().get('ref').relu"),
    ("import sys\ndef relu(x):\n    return sys.modules['gradlab.activations'].relu(x)",
     "sys.modules['gradlab.activations'].relu"),
    ("import sys\ndef relu(x):\n    return [m for m in sys.modules.values() if hasattr(m, 'relu')][0].relu(x)",
     "sys.modules"),
    ("import importlib\ndef relu(x):\n    return importlib.import_module('gradlab.activations').relu(x)",
     "importlib.import_module('gradlab.activations').relu"),
    ("def relu(x):\n    return __import__('gradlab.activations').activations.relu(x)",
     "__import__('gradlab.activations').activations.relu"),
    ("def relu(x):\n    return checks.diagnosis.np.maximum(0, x)", "checks.diagnosis"),     # through another module
    ("def helper(m, x):\n    return m.relu(x)\ndef relu(x):\n    return helper(ref, x)", "ref"),   # passed on whole
    ("import _thread, time\ndef relu(x):\n    box = []\n"
     "    _thread.start_new_thread(lambda: box.append(ref.relu(x)), ())\n"
     "    while not box:\n        time.sleep(0.001)\n    return box[0]", "ref.relu"),
])
def test_each_route_to_the_reference_is_flagged_with_what_was_seen(body, seen):
    given, handed_in = _relu_notebooks(body)
    found = [f for f in inspect_submission(given, handed_in) if f.startswith(REFERENCE)]
    assert len(found) == 1 and seen in found[0], inspect_submission(given, handed_in)


@pytest.mark.parametrize("body", [
    "def relu(x):\n    return np.maximum(0.0, np.asarray(x, dtype=float))",
    # the student's own check beside the answer, and a helper of gradlab that is not the exercise
    "def relu(x):\n    out = np.maximum(0.0, x)\n    checks.assert_close(out, out)\n    return out",
    "def relu(x):\n    return np.where(ref.sigmoid(x) > 0.5, x, 0.0)",
])
def test_an_answer_that_uses_no_route_to_the_reference_is_not_flagged(body):
    given, handed_in = _relu_notebooks(body)
    assert not [f for f in inspect_submission(given, handed_in) if f.startswith(REFERENCE)]
