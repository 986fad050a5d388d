"""Verdicts the student's code cannot reach: each attack below broke a test's score, or put the
hidden tests into the graded notebook and the feedback page, while the test cells ran inside the
student's kernel.  Graded as one class beside an honest and a wrong student, none gains a point,
no hidden-test line shows anywhere the student can read, and nobody else's grade moves."""

from __future__ import annotations

import html
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from gradlab_grader import pipeline

from .conftest import _meta, answer, release_toy, toy_notebook

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

CELL_TIMEOUT = 8   # the workspace's; the hidden relu test allows itself SLOW_TEST
SLOW_TEST = 60

# a second exercise whose test compares with gradlab's reference (what the tripwire watched)
RELU = ("def relu(x):\n    ### BEGIN SOLUTION\n    return np.maximum(0.0, np.asarray(x, dtype=float))\n"
        "    ### END SOLUTION")
RELU_VISIBLE = "checks.compare(relu, ref.relu, np.linspace(-1, 1, 5), forbid=(ref,))"
RELU_HIDDEN = ("checks.compare(relu, ref.relu, np.linspace(-3, 2, 7).reshape(7, 1), name='relu on a column', "
               "forbid=(ref,))")
# the visible test of double defines a helper that calls the student's function; the hidden test
# reads only the helper (the checker must still find the student's double behind it)
HELPER = "def twice(v):\n    return double(v)\n"


def verdict_notebook():
    nb = toy_notebook()
    nb.cells[1].source += "\nfrom gradlab import activations as ref"
    nb.cells[3].source = HELPER + nb.cells[3].source
    nb.cells[4].source = nb.cells[4].source.replace("double(np.ones((2, 3)))", "twice(np.ones((2, 3)))")
    nb.cells += [
        new_code_cell(RELU, metadata=_meta("relu", solution=True, locked=False)),
        new_code_cell(RELU_VISIBLE, metadata=_meta("test_relu_visible", grade=True, points=1)),
        new_code_cell("### BEGIN HIDDEN TESTS\n" + RELU_HIDDEN + "\n### END HIDDEN TESTS",
                      metadata={**_meta("test_relu_hidden", grade=True, points=2), "gradlab": {"timeout": SLOW_TEST}}),
    ]
    return nb


HIDDEN_LINES = ["checks.assert_close(twice(np.ones((2, 3))), 2 * np.ones((2, 3)), name='double on a matrix')",
                RELU_HIDDEN]
FULL = 6

GOOD_DOUBLE = "def double(x):\n    return 2.0 * np.asarray(x, dtype=float)\n"
WRONG_DOUBLE = "def double(x):\n    return np.asarray(x, dtype=float)\n"
GOOD_RELU = "def relu(x):\n    return np.maximum(0.0, np.asarray(x, dtype=float))\n"
WRONG_RELU = "def relu(x):\n    return np.asarray(x, dtype=float)\n"

# student -> the answer cells (double, relu).  Each attack's answer is wrong (or calls the
# reference): honestly graded, it earns nothing.  The scores noted are those the engine gave
# while the test cells ran in the student's kernel.
ATTACKS = {
    # 6/6 before: nbgrader scores a test cell by its first execute_result, and a text one earns full marks
    "displayhook": ("def double(x):\n    checks.sys.displayhook('x')\n    return np.asarray(x, dtype=float)\n",
                    "def relu(x):\n    checks.sys.displayhook('x')\n    return np.asarray(x, dtype=float)\n"),
    # the value assert_close expects, read from its frame when it turns the answer into an array
    "stack_walk": ("import sys\n"
                   "class Peek:\n"
                   "    def __array__(self, dtype=None, copy=None):\n"
                   "        f = sys._getframe(1)\n"
                   "        while f is not None and 'expected' not in f.f_locals:\n"
                   "            f = f.f_back\n"
                   "        return np.asarray(f.f_locals['expected'] if f else 0.0, dtype=float)\n"
                   "def double(x):\n    return Peek()\n",
                   "def relu(x):\n    return Peek()\n"),
    # np.allclose says yes once, and puts itself back before anything looks
    "fake_allclose": ("def double(x):\n"
                      "    real = np.allclose\n"
                      "    def fake(*a, **k):\n"
                      "        np.allclose = real\n"
                      "        return True\n"
                      "    np.allclose = fake\n"
                      "    return np.asarray(x, dtype=float)\n",
                      "def relu(x):\n    return double(x)\n"),
    # first_failure's code swapped in memory for "no failure" (no __code__ assignment to see)
    "ctypes_code": ("ct = np.ctypeslib.ctypes\n"
                    "def _swap(fn, new):\n"
                    "    words = (ct.c_void_p * 16).from_address(id(fn))\n"
                    "    k = [i for i in range(16) if words[i] == id(fn.__code__)][0]\n"
                    "    ct.pythonapi.Py_IncRef(ct.py_object(new))\n"
                    "    words[k] = id(new)\n"
                    "def double(x):\n"
                    "    _swap(checks.first_failure, (lambda *a, **k: None).__code__)\n"
                    "    return np.asarray(x, dtype=float)\n",
                    WRONG_RELU),
    # the kernel's session drops every error and turns error replies into ok
    "quiet_send": ("_session = get_ipython().kernel.session\n"
                   "_send = _session.send\n"
                   "def _quiet(stream, msg_or_type, content=None, *a, **k):\n"
                   "    kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type['header']['msg_type']\n"
                   "    if kind == 'error':\n"
                   "        return None\n"
                   "    if kind == 'execute_reply' and (content or {}).get('status') == 'error':\n"
                   "        content = {'status': 'ok', 'execution_count': content.get('execution_count'),\n"
                   "                   'user_expressions': {}, 'payload': []}\n"
                   "    return _send(stream, msg_or_type, content, *a, **k)\n"
                   "_session.send = _quiet\n" + WRONG_DOUBLE,
                   WRONG_RELU),
    # the reference called from a raw thread, which the tripwire's profiler never sees
    "raw_thread": (GOOD_DOUBLE,
                   "import _thread, time\n"
                   "def relu(x):\n"
                   "    box = []\n"
                   "    _thread.start_new_thread(lambda: box.append(ref.relu(x)), ())\n"
                   "    while not box:\n"
                   "        time.sleep(0.001)\n"
                   "    return box[0]\n"),
    # the reference called, then the tripwire's record of the call emptied
    "empty_record": (GOOD_DOUBLE,
                     "import sys\n"
                     "def relu(x):\n"
                     "    out = ref.relu(x)\n"
                     "    for cell in sys.getprofile().__closure__ or ():\n"
                     "        if isinstance(cell.cell_contents, list):\n"
                     "            cell.cell_contents.clear()\n"
                     "    return out\n"),
    # hidden tests printed into the cell's output: the test cell's source, the caller's, the history
    "prints_in": ("def double(x):\n    print(In[-1])\n    return 2.0 * np.asarray(x, dtype=float)\n",
                  "def relu(x):\n    print(In[-1])\n    return np.maximum(0.0, np.asarray(x, dtype=float))\n"),
    "prints_caller": ("import sys, linecache\n"
                      "def double(x):\n"
                      "    print(''.join(linecache.getlines(sys._getframe(1).f_code.co_filename)))\n"
                      "    return 2.0 * np.asarray(x, dtype=float)\n",
                      "def relu(x):\n"
                      "    print(''.join(linecache.getlines(sys._getframe(1).f_code.co_filename)))\n"
                      "    return np.maximum(0.0, np.asarray(x, dtype=float))\n"),
    "thread_history": ("import threading, time\n"
                       "def _spy():\n"
                       "    seen = 0\n"
                       "    while True:\n"
                       "        hist = get_ipython().history_manager.input_hist_raw\n"
                       "        for line in hist[seen:]:\n"
                       "            print(line)\n"
                       "        seen = len(hist)\n"
                       "        time.sleep(0.01)\n"
                       "threading.Thread(target=_spy, daemon=True).start()\n"
                       "def double(x):\n    time.sleep(0.3)\n    return 2.0 * np.asarray(x, dtype=float)\n",
                       "def relu(x):\n    time.sleep(0.3)\n    return np.maximum(0.0, np.asarray(x, dtype=float))\n"),
}
# what the answer earns honestly: the leaks' answers are correct; the two that call the reference
# get its values (the tests cannot tell them apart) and are flagged for a human look instead
HONEST = {"raw_thread": FULL, "empty_record": FULL, "prints_in": FULL, "prints_caller": FULL, "thread_history": FULL}
# the others in the class: their grades must not move
BYSTANDERS = {"good": (GOOD_DOUBLE, GOOD_RELU, FULL), "half": (WRONG_DOUBLE, GOOD_RELU, 3),
              # a call longer than the workspace's limit, inside the hidden test's own limit
              "slow": (GOOD_DOUBLE, "import time\n" + GOOD_RELU.replace(
                  "    return", f"    time.sleep({CELL_TIMEOUT + 2} if np.ndim(x) == 2 else 0)\n    return"), FULL)}
# calls of the reference must be flagged for a human look
CALLS_REFERENCE = ("raw_thread", "empty_record")


def _with_answers(ws, double: str, relu: str):
    nb = answer(ws, None)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "double":
            cell.source = double
        elif gid == "relu":
            cell.source = relu
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    ws = release_toy(tmp_path_factory.mktemp("verdicts"), verdict_notebook(), cell_timeout=CELL_TIMEOUT)
    class_ = {s: (d, r) for s, (d, r) in ATTACKS.items()} | {s: (d, r) for s, (d, r, _) in BYSTANDERS.items()}
    for student, (double, relu) in class_.items():
        folder = ws.submission(student, "toy")
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(_with_answers(ws, double, relu), folder / "toy.ipynb")
    results = {r.student: r for r in pipeline.autograde(ws, "toy", progress=False, workers=2)}
    pages, failed = pipeline.feedback(ws, "toy", progress=False)
    return ws, results, pages, failed


def test_the_class_is_graded_and_nobody_elses_grade_moves(graded):
    ws, results, _, failed = graded
    assert set(results) == set(ATTACKS) | set(BYSTANDERS)
    assert not failed
    assert {s: results[s].score for s in BYSTANDERS} == {s: score for s, (_, _, score) in BYSTANDERS.items()}


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_no_attack_gains_a_point(graded, student):
    _, results, _, _ = graded
    result = results[student]
    assert result.max_score == FULL
    assert result.score <= HONEST.get(student, 0), (result.score, [c.error for c in result.cells])
    print(f"{student}: {result.score:g}/{result.max_score:g}")


@pytest.mark.parametrize("student", CALLS_REFERENCE)
def test_a_call_of_the_reference_is_flagged(graded, student):
    _, results, _, _ = graded
    assert any("gradlab" in p and "reference" in p for p in results[student].problems), results[student].problems


def _outputs_text(path) -> str:
    nb = nbformat.read(str(path), as_version=4)
    return "\n".join(json.dumps(c.get("outputs", [])) for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_no_hidden_test_line_reaches_the_graded_notebook_or_the_feedback(graded, student):
    ws, _, pages, _ = graded
    notebook = ws.autograded(student, "toy") / "toy.ipynb"
    outputs = _outputs_text(notebook)
    shown = [html.unescape(p.read_text()) for p in pages if student in p.parts]
    assert shown, f"no feedback page for {student}"
    for line in HIDDEN_LINES:
        assert line not in outputs and json.dumps(line)[1:-1] not in outputs, (student, "graded notebook")
        for page in shown:
            assert line not in page, (student, "feedback page")
