"""The grading engine on a hostile class: each submission graded exactly as intended, the
gradebook intact, a killed run resumed without counting anything twice.

Most hostile answers define ``double`` correctly but misbehave when called on a scalar — the
visible test (1 point) calls ``double(3)``, the hidden one (2 points) a matrix.  So "a crash
costs one cell" is measurable: the visible test scores 0 with a clear message, and the hidden
test, run in a fresh kernel after the earlier cells ran again, keeps its 2 points.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time

import nbformat
import pytest

from gradlab_grader import cli, pipeline
from gradlab_grader.execution.engine import ExecLimits
from gradlab_grader.kernel import bubblewrap
from gradlab_grader.outputs.results import format_table, read_results
from gradlab_grader.recording import ledger

from .conftest import answer

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

# seconds: every toy cell runs in milliseconds, with room to spare on a loaded machine; every
# hang tested is endless, so none ends (or fails to) by the machine's speed
CELL_TIMEOUT = 15


def misbehaves_on_scalars(action: str, imports: str = "") -> str:
    """A correct ``double`` that does ``action`` when called on a scalar (the visible test)."""
    return (f"{imports}\n"
            "def double(x):\n"
            "    x = np.asarray(x, dtype=float)\n"
            "    if x.ndim == 0:\n"
            + "".join(f"        {line}\n" for line in action.splitlines()) +
            "    return 2 * x\n")


GOOD = "def double(x):\n    return 2.0 * np.asarray(x, dtype=float)"

# student -> (answer cell, expected score out of 3, words the problems or the visible test's error show)
HOSTILE = {
    "good": (GOOD, 3, None),
    # a test's call that hangs is interrupted by the trusted checker: that test scores 0, the kernel lives on
    "infinite_loop": (misbehaves_on_scalars("while True:\n    pass"), 2, "ran longer than"),
    "ignores_sigint": (misbehaves_on_scalars(
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass", "import signal"), 2,
        "did not stop when interrupted"),
    "os_exit": (misbehaves_on_scalars("os._exit(1)", "import os"), 2, "KernelDied"),
    "segfault": (misbehaves_on_scalars("ctypes.string_at(0)", "import ctypes"), 2, "KernelDied"),
    # printed during a test's call: the checker keeps a capped part; the call ends at its time
    # limit or with the kernel's MemoryError, whichever comes first (the test scores 0 either way)
    "print_bomb": (misbehaves_on_scalars("while True:\n    print('x' * 100_000, end='')"), 2, None),
    "sys_exit": (misbehaves_on_scalars("sys.exit(3)", "import sys"), 2, "SystemExit"),
    "stderr_noise": ("import sys\nfor i in range(2000):\n    print('warning: noise', i, file=sys.stderr)\n"
                     + GOOD, 3, None),
    "nan_answer": ("def double(x):\n    return np.full(np.shape(x), np.nan)", 0, "nan"),
    "wrong_shape": ("def double(x):\n    return 2.0 * np.asarray(x, dtype=float).reshape(-1, 1)", 0, "shape"),
    # a wrong answer that switches the checks off when a test calls it: it patches the kernel's
    # copy of the checks, the test decides in the grader; the import of gradlab is flagged
    "patches_when_called": ("def double(x):\n    import gradlab.checks as c\n"
                            "    c.first_failure = lambda *a, **k: None\n"
                            "    return np.asarray(x, dtype=float)", 0, "reaches gradlab's reference library"),
}
HALF = "def double(x):\n    return np.asarray(x, dtype=float)"


def _delete_visible_test(nb):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_double_visible"]


def _edit_tests(nb):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass  # the student 'fixed' the test"


def _retag_tests(nb):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata["tags"] = ["skip-execution"]


# student -> (answer, change to the rest of the notebook, expected score, what the flags say)
TAMPERED = {
    "deleted_test": (GOOD, _delete_visible_test, 2, "test cells deleted"),
    "edited_tests": (HALF, _edit_tests, 0, "test cells edited"),
    "retagged_tests": (HALF, _retag_tests, 0, "tagged to change how they run"),
}


def sandbox_only(ws, home, port) -> dict:
    """Submissions only the sandbox (bubblewrap + limits) grades as intended; each answer is
    correct, so any harm it could do shows as a changed file, grade or connection."""
    gradebook = ws.root / "gradebook.db"
    source = ws.source("toy") / "toy.ipynb"
    attempt = "try:\n{}\nexcept Exception:\n    pass\n"
    return {
        # bytes(n) maps zeroed pages without touching them: the bombs reach the address-space
        # limit at once, not after seconds of page faults on a busy machine
        "memory_bomb": (misbehaves_on_scalars("hog = []\nwhile True:\n    hog.append(bytes(2**30))"),
                        2, "MemoryError"),
        "memory_creep": (misbehaves_on_scalars(
            "import time\nhog = []\nwhile True:\n    hog.append(bytes(20 * 2**20))\n    time.sleep(0.005)"),
            2, "MemoryError"),
        "fork_bomb": (misbehaves_on_scalars(
            "while True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)",
            "import os, time"), 2, "ran longer than"),
        # a wrong answer with the checks switched off through an alias, no import line
        "patches_helpers": ("helper = globals()['checks']\nhelper.assert_close = lambda *a, **k: None\n" + HALF,
                            0, "globals("),
        "reads_source": (f"import os\nif os.path.exists({str(source)!r}):\n"
                         f"    raise RuntimeError('read the instructor source')\n" + GOOD, 3, "import os"),
        "edits_gradebook": ("import sqlite3\n" + attempt.format(
            f"    db = sqlite3.connect('file:{gradebook}?mode=rw', uri=True)\n"
            "    db.execute('update grade set auto_score = 0')\n    db.commit()") + GOOD, 3, "import sqlite3"),
        "writes_outside": (attempt.format(
            f"    open({str(ws.root / 'planted.txt')!r}, 'w').write('x')\n"
            f"    open({str(home.parent / 'planted.txt')!r}, 'w').write('x')") + GOOD, 3, "open("),
        "deletes_home": ("import os, shutil\n" + attempt.format(
            "    shutil.rmtree(os.path.expanduser('~'))") + GOOD, 3, "import shutil"),
        "loopback": ("import socket\n" + attempt.format(
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'stolen')") + GOOD,
            3, "import socket"),
    }


# written straight into the workspace (collect would turn them away): grading must cope anyway
BROKEN_FILES = {
    "invalid_json": (b'{"cells": [ {"cell_type": "code", "source": "x = 1"', "not valid JSON"),
    "empty_file": (b"", "is empty"),
    "binary_file": (bytes(range(256)) * 8, "binary"),
}


def sandboxed() -> bool:
    if bubblewrap.available():
        return True
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must grade in the sandbox: {bubblewrap.unavailable_reason()}")
    return False


@pytest.fixture(scope="module")
def hostile(released, tmp_path_factory):
    ws = dataclasses.replace(released, cell_timeout=CELL_TIMEOUT)
    home = tmp_path_factory.mktemp("home") / "instructor"
    home.mkdir()
    (home / "keep.txt").write_text("the instructor's own file")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    corpus = {s: (body, None, score, words) for s, (body, score, words) in HOSTILE.items()}
    corpus |= {s: (body, edit, score, words) for s, (body, edit, score, words) in TAMPERED.items()}
    if sandboxed():
        corpus |= {s: (body, None, score, words)
                   for s, (body, score, words) in sandbox_only(ws, home, listener.getsockname()[1]).items()}
    for student, (body, edit, _, _) in corpus.items():
        folder = ws.submission(student, "toy")
        folder.mkdir(parents=True, exist_ok=True)
        nb = answer(ws, body)
        if edit:
            edit(nb)
        nbformat.write(nb, folder / "toy.ipynb")
    for student, (data, _) in BROKEN_FILES.items():
        folder = ws.submission(student, "toy")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "toy.ipynb").write_bytes(data)
    v3 = ws.submission("nbformat3", "toy")
    v3.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.downgrade(answer(ws, GOOD)), v3 / "toy.ipynb", version=3)
    renamed = ws.submission("renamed", "toy")
    renamed.mkdir(parents=True, exist_ok=True)
    nbformat.write(answer(ws, GOOD), renamed / "toy (1).ipynb")
    with ws.gradebook() as gb:
        cells_before = [(c.name, c.source) for nb in gb.find_assignment("toy").notebooks for c in nb.source_cells]
    lines = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        results = {r.student: r for r in pipeline.autograde(ws, "toy", progress=False, workers=2,
                                                            echo=lines.append)}
    try:
        connection = listener.accept()[0].recv(100)
    except BlockingIOError:
        connection = b""
    listener.close()
    return Hostile(ws, results, cells_before, lines, corpus, home, connection)


@dataclasses.dataclass
class Hostile:
    ws: object
    results: dict
    cells_before: list
    lines: list
    corpus: dict
    home: object
    connection: bytes

    def __iter__(self):
        return iter((self.ws, self.results, self.cells_before, self.lines))

    def __getitem__(self, i):
        return (self.ws, self.results, self.cells_before, self.lines)[i]


def _problems(result) -> str:
    return " | ".join(result.problems) + " | " + " | ".join(c.error for c in result.cells)


def test_each_hostile_submission_is_graded_as_intended(hostile):
    wrong = {}
    for student, (_, _, expected, words) in hostile.corpus.items():
        result = hostile.results[student]
        if (result.score, result.max_score) != (expected, 3) or (words and words not in _problems(result)):
            wrong[student] = (result.score, _problems(result))
    assert not wrong


def test_a_helper_patched_while_the_test_runs_changes_no_verdict(hostile):
    """The answer switches the checks off when a test calls it: what it patches is the kernel's
    copy of the checks, while the test decides in the grader: each test fails with the checks'
    own message, and the answer's route to gradlab is flagged."""
    result = hostile.results["patches_when_called"]
    assert (result.score, result.max_score) == (0, 3)
    assert [c.diagnostic for c in result.cells] == ["factor", "factor"]
    assert any("import gradlab.checks as c" in p for p in result.problems), result.problems


def test_nothing_escaped_the_sandbox(hostile):
    if "loopback" not in hostile.corpus:
        pytest.skip("no sandbox on this machine (CI fails instead)")
    assert (hostile.home / "keep.txt").read_text() == "the instructor's own file"
    assert not (hostile.ws.root / "planted.txt").exists() and not (hostile.home.parent / "planted.txt").exists()
    assert hostile.connection == b"", "a kernel reached a loopback service of the grader's machine"
    for student in ("fork_bomb", "memory_bomb", "memory_creep"):
        visible, hidden_test = hostile.results[student].cells
        assert (visible.score, hidden_test.score) == (0, 2), student


def test_a_crash_costs_one_cell(hostile):
    """The visible test that killed the kernel scores 0; the hidden one after it keeps its points."""
    results = hostile[1]
    for student in ("os_exit", "segfault", "ignores_sigint"):
        visible, hidden = results[student].cells
        assert (visible.score, hidden.score) == (0, 2), student
    assert "stopped the kernel" in " ".join(results["os_exit"].problems)


def test_the_print_bomb_is_cut_in_the_grader(hostile):
    ws = hostile[0]
    size = (ws.autograded("print_bomb", "toy") / "toy.ipynb").stat().st_size
    cap = ExecLimits().output_bytes
    assert size < cap + 64 * 1024, f"the graded notebook kept {size} bytes, the cap is {cap}"


@pytest.mark.parametrize("student", sorted(BROKEN_FILES))
def test_a_broken_file_is_a_clear_per_student_failure(hostile, student):
    ws, results, _, _ = hostile
    problems = " ".join(results[student].problems)
    assert "could not be graded" in problems and BROKEN_FILES[student][1] in problems
    assert ledger.Ledger(ws, "toy").get(student)["status"] == ledger.FAILED


def test_nbformat_3_is_converted_and_graded(hostile):
    assert hostile[1]["nbformat3"].score == 3


def test_a_renamed_notebook_scores_zero_and_says_why(hostile):
    result = hostile[1]["renamed"]
    assert result.score == 0 and "toy.ipynb was not handed in" in " ".join(result.problems)


def test_the_gradebook_is_intact(hostile):
    ws, results, cells_before, _ = hostile
    with ws.gradebook() as gb:
        cells_after = [(c.name, c.source) for nb in gb.find_assignment("toy").notebooks for c in nb.source_cells]
        students = {s.id for s in gb.students}
    assert cells_after == cells_before
    assert set(results) <= students
    with ws.gradebook() as gb:  # every grade is what its submission earned, within its points
        scores = {s.student.id: s.score for s in gb.find_assignment("toy").submissions}
    assert scores == {s: r.score for s, r in results.items()}
    assert scores["good"] == 3 and all(0 <= v <= 3 for v in scores.values())


def test_summary_keeps_the_reasons(hostile, capsys):
    ws = hostile[0]
    table = format_table(read_results(ws, "toy"))
    assert "os_exit: " in table and "stopped the kernel" in table
    assert "invalid_json: could not be graded" in table
    assert any("graded" in line and "wall time" in line for line in hostile[3])


def test_export_tells_could_not_be_graded_from_a_zero(hostile, tmp_path):
    ws = hostile[0]
    rows = {r["student_id"]: r for r in csv.DictReader(pipeline.export(ws, tmp_path / "g.csv").open())}
    assert rows["renamed"]["status"] == "graded" and float(rows["renamed"]["score"]) == 0
    assert rows["invalid_json"]["status"].startswith("could not be graded")
    assert rows["invalid_json"]["score"] == ""


def test_status_counts_each_state(hostile, capsys):
    ws = hostile[0]
    assert cli.main(["--repo", str(ws.repo), "--workspace", str(ws.root), "status"]) == 0
    out = capsys.readouterr().out
    header = next(line.split() for line in out.splitlines() if line.startswith("assignment"))
    row = dict(zip(header[1:], map(int, next(line.split() for line in out.splitlines()
                                             if line.startswith("toy"))[1:])))
    collected, graded, failed, flagged, pending = (row[c] for c in ("collected", "graded", "failed",
                                                                    "flagged", "pending"))
    students = len(hostile.corpus) + len(BROKEN_FILES) + 2
    assert (collected, failed, pending) == (students, len(BROKEN_FILES), 0)
    assert graded == students - len(BROKEN_FILES) and flagged >= 5


def test_a_second_run_keeps_what_is_recorded(hostile):
    ws = hostile[0]
    lines = []
    pipeline.autograde(ws, "toy", progress=False, echo=lines.append)
    assert "graded 0" in lines[0] and f"{len(hostile.corpus) + len(BROKEN_FILES) + 2} already recorded" in lines[0]


# -- a killed run resumes ----------------------------------------------------------------------

def test_sigkill_mid_batch_then_resume_records_every_grade_once(released, tmp_path):
    from gradlab_grader import Workspace

    ws = Workspace(tmp_path / "ws", repo=released.repo)
    pipeline.release(ws, ["toy"], course=tmp_path / "course")
    expected = {}
    for i in range(8):
        student, body, score = (f"s{i}", GOOD, 3) if i % 2 else (f"s{i}", None, 0)
        folder = ws.submission(student, "toy")
        folder.mkdir(parents=True)
        nb = nbformat.read(tmp_path / "course" / "toy" / "toy.ipynb", as_version=4)
        for cell in nb.cells:
            if body and cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = body
        nbformat.write(nb, folder / "toy.ipynb")
        expected[student] = score
    proc = subprocess.Popen([sys.executable, "-m", "gradlab_grader.cli", "--quiet", "--repo", str(ws.repo),
                             "--workspace", str(ws.root), "autograde", "toy", "--workers", "2"],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    folder = ws.ledger("toy")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(folder.glob("*.json"))) < 2 and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    recorded_before = {p.stem for p in folder.glob("*.json")}
    assert 2 <= len(recorded_before) < len(expected), "the run was not killed mid-batch"

    lines = []
    results = {r.student: r for r in pipeline.autograde(ws, "toy", progress=False, echo=lines.append)}
    assert {s: r.score for s, r in results.items()} == expected
    assert f"{len(recorded_before)} already recorded" in lines[0]
    with ws.gradebook() as gb:
        submissions = [(s.student.id, s.score) for s in gb.find_assignment("toy").submissions]
    assert sorted(submissions) == sorted(expected.items()), "one submission per student, scored once"
    records = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    assert sorted(r["student"] for r in records) == sorted(expected)


@pytest.mark.parametrize("sandbox_on", [None, False], ids=["sandbox", "limits-only"])
def test_grade_submission_runs_the_same_unit_in_process(hostile, sandbox_on):
    """Also on kernels forked from an unsandboxed template (--no-sandbox): a kernel that ends
    itself still costs one cell, and its replacement comes from the same template."""
    from gradlab_grader import grade_submission

    result = grade_submission(hostile.ws, "toy", "os_exit", sandbox=sandbox_on)
    assert (result.score, [c.score for c in result.cells]) == (2, [0, 2])
    assert "stopped the kernel" in " ".join(result.problems)


def test_preload_modules_keeps_installed_imports_only(tmp_path):
    """What a kernel template imports is read from the notebooks' code (never run) and limited
    to installed packages: not a module of the working copy or the instructor's folders."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from gradlab_grader.execution import engine

    (tmp_path / "helpers.py").write_text("raise SystemExit('imported!')")
    secret = tmp_path / "solutions"
    secret.mkdir()
    (secret / "answers_mod.py").write_text("raise SystemExit('imported!')")
    nb = new_notebook(cells=[
        new_markdown_cell("import os_is_text_here"),
        new_code_cell("import numpy as np\nimport matplotlib.pyplot as plt\nimport helpers"),
        new_code_cell("from gradlab import checks, calculus as ref\nimport answers_mod\n"
                      "import no_such_package_xyz\nfrom . import relative"),
        new_code_cell("def f(:\n  broken"),
    ])
    path = tmp_path / "a.ipynb"
    nbformat.write(nb, path)
    sys.path.insert(0, str(secret))  # importable here, but under an excluded folder
    try:
        got = engine.preload_modules([path], exclude=[secret])
    finally:
        sys.path.remove(str(secret))
    assert got == ["numpy", "matplotlib.pyplot", "gradlab", "gradlab.checks", "gradlab.calculus"]


def _execute(sources: list[str], limits: ExecLimits, skip=()):
    """One notebook of plain code cells through execute_notebook, on unsandboxed kernels."""
    import asyncio

    from nbformat.v4 import new_code_cell, new_notebook

    from gradlab_grader.execution import engine
    from gradlab_grader.kernel import launcher as kernel_launcher

    async def run():
        kernels = engine.Kernels(kernel_launcher.launcher(False))
        try:
            nb = new_notebook(cells=[new_code_cell(src) for src in sources])
            work = engine.NotebookWork("nb", nbformat.writes(nb), skip=list(skip))
            return await engine.execute_notebook(work, {}, limits, kernels)
        finally:
            await kernels.close()

    result = asyncio.run(run())
    assert not result.error, result.error
    return result, nbformat.reads(result.notebook, as_version=4).cells


def test_a_notebook_that_keeps_stopping_its_kernel_is_given_up_and_says_why():
    result, cells = _execute(["import os", "x = 1", "os._exit(1)", "os._exit(1)", "y = 2"],
                             ExecLimits(cell_timeout=CELL_TIMEOUT, max_restarts=1), skip=[1])
    assert [c.status for c in result.cells] == ["ok", "skipped", "crashed", "crashed", "not-run"]
    assert result.restarts == 2                 # the second crash is one more than the notebook may cost
    assert result.cells[4].message == "the kernel was replaced 1 times"
    assert [o["evalue"] for o in cells[4].outputs] == ["not run: the kernel was replaced 1 times"]
    assert cells[1].outputs[0]["text"].startswith("[not run while grading")
    assert "it scores 0 and the cells after it ran in a fresh kernel" in result.cells[2].message


def test_cells_after_the_notebooks_time_limit_are_not_run():
    # the first cell leaves under a second of the notebook's 2.4 s (whether or not it finished)
    result, cells = _execute(["import time\ntime.sleep(1.5)", "z = 3"],
                             ExecLimits(cell_timeout=CELL_TIMEOUT, notebook_timeout=2.4))
    assert (result.cells[1].status, result.cells[1].message) == (
        "not-run", "the notebook ran past its time limit (2.4 s)")
    assert cells[1].outputs[0]["ename"] == "NotRun"
