"""Every test cell run two ways: in the student's kernel (as a notebook runs it) and by the
trusted checker outside it (:func:`gradlab_grader.execution.trusted.run_test_cell`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel

from gradlab_grader import mistakes
from gradlab_grader.cells import grade_id, is_answer, is_test, skip_when_grading
from gradlab_grader.execution.trusted import KernelLink, TestNamespace, run_test_cell

REPO = Path(__file__).resolve().parents[2]
TRUSTED_MODULES = frozenset({"numpy", "gradlab", "functools", "math"})


@dataclass
class Outcome:
    cell: str
    kernel: tuple[bool, str | None]     # passed, the error's evalue
    trusted: tuple[bool, str | None]
    kernel_s: float
    trusted_s: float


@dataclass
class Run:
    label: str
    outcomes: list[Outcome] = field(default_factory=list)

    def disagreements(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kernel != o.trusted]


def _kernel_cell(kc, source: str, timeout: float) -> tuple[bool, str | None]:
    errors: list[dict] = []

    def hook(msg):
        if msg["header"]["msg_type"] == "error":
            errors.append(msg["content"])
    reply = kc.execute_interactive(source, timeout=timeout, output_hook=hook)
    if reply["content"]["status"] == "ok" and not errors:
        return True, None
    return False, (errors[0]["evalue"] if errors else reply["content"].get("evalue"))


def run_notebook(path: Path, replace: dict[str, str] | None = None, *, label: str = "solution",
                 timeout: float = 300) -> Run:
    """Run the notebook's code cells in a fresh kernel (answer cells replaced by ``replace``);
    every test cell first through the trusted checker, then in the kernel."""
    nb = nbformat.read(path, as_version=4)
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(path.parent))
    link = KernelLink(km.get_connection_info(), call_timeout=timeout)
    run, history, namespace = Run(label), [], TestNamespace()
    try:
        kc.execute_interactive("%matplotlib agg", timeout=60)
        link.start()
        for cell in nb.cells:
            if cell.cell_type != "code" or skip_when_grading(cell):
                continue
            source = (replace or {}).get(grade_id(cell), cell.source) if is_answer(cell) else cell.source
            if is_test(cell) and not is_answer(cell):
                t0 = time.perf_counter()
                verdict = run_test_cell(link, source, namespace, timeout=timeout,
                                        trusted_modules=TRUSTED_MODULES, history=list(history))
                t1 = time.perf_counter()
                errors = [o for o in verdict.outputs if o["output_type"] == "error"]
                trusted = (verdict.passed, errors[0]["evalue"] if errors else None)
                kernel = _kernel_cell(kc, source, timeout)
                t2 = time.perf_counter()
                run.outcomes.append(Outcome(grade_id(cell), kernel, trusted, t2 - t1, t1 - t0))
            else:
                _kernel_cell(kc, source, timeout)
            history.append(source)
    finally:
        link.close()
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return run


def runs(assignment: str) -> list[Run]:
    """The solution notebook, then each of its mistakes."""
    folder = REPO / "solutions" / assignment
    path = folder / f"{assignment}.ipynb"
    out = [run_notebook(path)]
    for mistake in mistakes.load(folder):
        out.append(run_notebook(path, {mistake.exercise: mistake.source}, label=mistake.name))
    return out
