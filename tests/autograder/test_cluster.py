"""Grading on a real Dask cluster on 127.0.0.1: a scheduler and two worker processes started with
Dask's own commands, ``gradlab autograde --scheduler`` from the command line, one worker killed
(SIGKILL) while it runs a submission, and a submission whose workers keep dying.

The oracle is the toy course's design (1 visible + 2 hidden points; a correct ``double`` earns
3, one that returns ``x`` earns 0): every student gets exactly that, recorded once; the
submission that stopped its workers is "could not be graded", never a zero.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from gradlab_grader import Workspace, cli, pipeline
from gradlab_grader.execution import cluster
from gradlab_grader.recording import ledger

from .conftest import answer

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

GOOD = "def double(x):\n    return 2.0 * np.asarray(x, dtype=float)"
HALF = "def double(x):\n    return np.asarray(x, dtype=float)"
# each unit runs for a couple of seconds, so that a worker can be killed while it runs one
SLOW = "import time\ntime.sleep({})\n"
# the poison never ends by itself (its cells have an hour): only the workers' deaths stop it
ENDLESS = "import time\nwhile True:\n    time.sleep(1)\n"
CLASS = {f"s{i}": (GOOD, 3) if i % 2 else (HALF, 0) for i in range(6)}
POISON = "zpoison"  # sorted last: submitted once the batch is under way
ALLOWED_FAILURES = 1  # the scheduler's: the poison stops 2 workers
DASK = Path(sys.executable).with_name("dask")


@dataclass
class Cluster:
    address: str
    root: Path
    procs: list = field(default_factory=list)
    client: object = None

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.root.glob("*.log")))


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes (one thread each, under a nanny that
    restarts a killed worker).  The scheduler gives up on a unit after its second dead worker,
    and sends a unit only to a free worker (so a dead worker blames only what it ran)."""
    from distributed import Client

    if not DASK.exists():
        pytest.fail(f"{DASK} is missing: dask[distributed] is a dependency of gradlab (make install)")
    root = tmp_path_factory.mktemp("dask")
    env = os.environ | {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(ALLOWED_FAILURES),
                        "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
    procs = []

    def start(name, *args):
        log = (root / f"{name}.log").open("w")
        procs.append(subprocess.Popen([str(DASK), *args, "--host", "127.0.0.1", "--no-dashboard"], env=env,
                                      cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    file = root / "scheduler.json"
    start("scheduler", "scheduler", "--port", "0", "--scheduler-file", str(file))
    deadline = time.monotonic() + 120
    while not file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        assert file.exists(), "the Dask scheduler did not start"
        address = json.loads(file.read_text())["address"]
        for i in range(2):
            start(f"worker{i}", "worker", address, "--nthreads", "1", "--nworkers", "1", "--name", f"w{i}")
        client = Client(address, set_as_default=False, timeout=60)
        client.wait_for_workers(2, timeout=180)
        yield Cluster(address, root, procs, client)
        client.close()
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _executing(client) -> dict[str, tuple[int, list[str]]]:
    """{worker address: (worker process id, students whose unit it is running)}."""

    def probe(dask_worker):
        import os

        return os.getpid(), [str(k) for k, ts in dask_worker.state.tasks.items() if ts.state == "executing"]

    found = client.run(probe, on_error="ignore")
    return {addr: (pid, [key.split("-")[2] for key in keys if key.startswith("gradlab-")])
            for addr, (pid, keys) in found.items()}


@dataclass
class Run:
    ws: Workspace
    code: int
    out: str
    err: str
    killed: list  # (student, worker pid), in order


@pytest.fixture(scope="module")
def graded_on_cluster(dask_cluster, released, tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    repo = root / "repo"
    shutil.copytree(released.repo / "solutions", repo / "solutions")
    (repo / "lib" / "gradlab").mkdir(parents=True)
    source = repo / "solutions" / "toy" / "toy.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.metadata["gradlab"] = {"cell_timeout": 3600}
    nbformat.write(nb, source)
    ws = Workspace(root / "ws", repo=repo)
    pipeline.release(ws, ["toy"], course=root / "course")
    bodies = {s: SLOW.format(2) + body for s, (body, _) in CLASS.items()}
    bodies[POISON] = ENDLESS + GOOD
    for student, body in bodies.items():
        folder = ws.submission(student, "toy")
        folder.mkdir(parents=True)
        nbformat.write(answer(released, body), folder / "toy.ipynb")
    out, err = (root / "out.txt").open("w+"), (root / "err.txt").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "gradlab_grader.cli", "--repo", str(ws.repo),
                             "--workspace", str(ws.root), "autograde", "toy", "--scheduler",
                             dask_cluster.address], stdout=out, stderr=err, start_new_session=True)
    killed: list[tuple[str, int]] = []
    deadline = time.monotonic() + 420
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            recorded = len(list(ws.ledger("toy").glob("*.json")))
            for pid, students in _executing(dask_cluster.client).values():
                if any(pid == p for _, p in killed):
                    continue
                # once mid-batch: a worker running an ordinary submission; then the poison's,
                # each time it runs, as an out-of-memory killer would
                victim = next((s for s in students if s != POISON), None) if not killed and recorded else None
                victim = victim or (POISON if POISON in students and killed and
                                    sum(s == POISON for s, _ in killed) <= ALLOWED_FAILURES else None)
                if victim:
                    os.kill(pid, signal.SIGKILL)
                    killed.append((victim, pid))
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"the grading run did not end: killed {killed}\n{dask_cluster.logs()}")
    out.seek(0), err.seek(0)
    return Run(ws, proc.returncode, out.read(), err.read(), killed)


def test_workers_were_killed_mid_batch(graded_on_cluster):
    killed = graded_on_cluster.killed
    assert killed[0][0] in CLASS, f"no worker died while running an ordinary submission: {killed}"
    assert [s for s, _ in killed[1:]] == [POISON] * (ALLOWED_FAILURES + 1), killed
    assert len({pid for _, pid in killed}) == len(killed)


def test_every_grade_is_recorded_exactly_once(graded_on_cluster):
    run = graded_on_cluster
    assert run.code == 0, run.err
    # one record a student (the summary counts records; the ledger holds one file a student)
    assert f"graded {len(CLASS)}, could not grade 1" in run.err
    records = {p.stem: json.loads(p.read_text()) for p in run.ws.ledger("toy").glob("*.json")}
    assert sorted(records) == sorted([*CLASS, POISON])
    with run.ws.gradebook() as gb:
        submissions = [(s.student.id, s.score) for s in gb.find_assignment("toy").submissions]
    assert sorted(s for s, _ in submissions) == sorted([*CLASS, POISON]), "one submission a student"
    scores = dict(submissions)
    assert {s: scores[s] for s in CLASS} == {s: score for s, (_, score) in CLASS.items()}
    for student in CLASS:
        assert records[student]["status"] == ledger.GRADED
        assert (run.ws.autograded(student, "toy") / "toy.ipynb").is_file()


def test_the_submission_that_stopped_workers_is_for_review_not_a_zero(graded_on_cluster, tmp_path):
    run = graded_on_cluster
    record = ledger.Ledger(run.ws, "toy").get(POISON)
    assert record["status"] == ledger.FAILED
    problem = " ".join(record["problems"])
    assert f"could not be graded: it stopped {ALLOWED_FAILURES + 1} workers" in problem
    rows = {r["student_id"]: r for r in csv.DictReader(pipeline.export(run.ws, tmp_path / "g.csv").open())}
    assert rows[POISON]["status"] == "could not be graded"
    assert "could not be graded: it stopped" in rows[POISON]["review_reason"]
    assert rows[POISON]["score"] == ""
    assert all(rows[s]["status"] == "graded" for s in CLASS)


def test_the_summary_is_the_local_one(graded_on_cluster):
    run = graded_on_cluster
    assert "wall time" in run.err and "2 workers" in run.err
    flagged = next(line for line in run.out.splitlines() if line.startswith(f"  {POISON}: "))
    assert "could not be graded: it stopped" in flagged
    assert "Traceback" not in run.err


def test_an_unreachable_scheduler_is_a_clear_error(graded_on_cluster, monkeypatch, capsys):
    ws = graded_on_cluster.ws
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 2)
    code = cli.main(["--quiet", "--repo", str(ws.repo), "--workspace", str(ws.root), "autograde", "toy",
                     "-s", "s1", "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2 and "could not reach the Dask scheduler at tcp://127.0.0.1:1" in err
    assert "dask scheduler" in err and "Traceback" not in err
    assert ledger.Ledger(ws, "toy").get("s1")["status"] == ledger.GRADED, "what was recorded is kept"
