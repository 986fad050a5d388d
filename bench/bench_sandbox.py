"""What the sandbox costs: a kernel's start in the sandbox against a plain one.

Four ways to start the kernel a grader uses, interleaved so that machine noise hits them alike,
each timed from ``start_kernel`` to the reply of a first cell that imports what every course
notebook imports (``numpy``, ``gradlab.checks``):

    plain      jupyter_client's AsyncKernelManager, nothing else
    limits     gradlab's kernel manager without bubblewrap (rlimits only)
    sandbox    + bubblewrap (namespaces, private file system)
    forked     forked from a kernel template that imported them already
and, separately, the address space a sandboxed kernel maps (the reason for ``Limits.memory_bytes``).

    python bench/bench_sandbox.py [--quick]

``kernel_start_seconds(make_km)`` is the measuring function, for the engine's benchmark.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time

from jupyter_client.manager import AsyncKernelManager

from gradlab_grader.kernel import bubblewrap, resources, sandbox
from gradlab_grader.kernel import launcher as kernel_launcher

FIRST_CELL = "import numpy as np\nfrom gradlab import checks"


async def _run(kc, code, timeout=60):
    msg_id = kc.execute(code, store_history=False)
    while True:
        reply = await kc._async_get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


async def kernel_start_seconds(make_km, first_cell: str = FIRST_CELL) -> tuple[float, float]:
    """(seconds to a ready kernel, seconds to the reply of ``first_cell``) for ``make_km()``."""
    t0 = time.perf_counter()
    km = make_km()
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        await kc._async_wait_for_ready(timeout=60)
        ready = time.perf_counter() - t0
        reply = await _run(kc, first_cell)
        assert reply["content"]["status"] == "ok", reply["content"]
        return ready, time.perf_counter() - t0
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


async def kernel_address_space() -> str:
    """VmPeak / VmRSS of a sandboxed kernel after numpy, matplotlib and gradlab are imported."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    code = (FIRST_CELL + "\nimport matplotlib.pyplot as plt\nimport gradlab\n"
            "print({l.split(':')[0]: l.split(':')[1].strip() for l in open('/proc/self/status')"
            " if l.startswith(('VmPeak', 'VmRSS'))})")
    nb = new_notebook(cells=[new_code_cell(code)])
    with tempfile.TemporaryDirectory() as wd:
        await NotebookClient(nb, km=sandbox.sandboxed_kernel_manager(wd), timeout=60).async_execute()
    return "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()


def main(argv):
    quick = "--quick" in argv
    repeats = 4 if quick else 12
    if not bubblewrap.available():
        print(bubblewrap.unavailable_reason())
        return 1
    with tempfile.TemporaryDirectory() as wd:
        kinds = {
            "plain": lambda: AsyncKernelManager(kernel_name="python3"),
            "limits": lambda: sandbox.sandboxed_kernel_manager(wd, isolate=False),
            "sandbox": lambda: sandbox.sandboxed_kernel_manager(wd),
            # forked from a kernel template that imported numpy and gradlab.checks already
            "forked": lambda: launch.kernel_manager(launch.make_workdir()),
        }
        launch = kernel_launcher.launcher(True, template=True,
                                  preload=["numpy", "gradlab.checks"])
        asyncio.run(kernel_start_seconds(kinds["forked"]))  # the template starts once per worker
        ready = {k: [] for k in kinds}
        cell = {k: [] for k in kinds}
        for _ in range(repeats):
            for name, make in kinds.items():
                r, c = asyncio.run(kernel_start_seconds(make))
                ready[name].append(r)
                cell[name].append(c)
        launch.close()
    base = statistics.median(cell["plain"])
    print(f"kernel start, median of {repeats} (2 cores shared: compare columns, not runs)")
    print(f"{'kernel':<10}{'ready s':>10}{'+first cell s':>15}{'vs plain':>10}")
    for name in kinds:
        c = statistics.median(cell[name])
        print(f"{name:<10}{statistics.median(ready[name]):>10.3f}{c:>15.3f}{c / base:>10.2f}")
    print(f"sandboxed kernel with numpy, matplotlib, gradlab: {asyncio.run(kernel_address_space())} "
          f"(memory limit {resources.size(resources.Limits().memory_bytes)} of address space)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
