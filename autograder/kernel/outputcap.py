"""What the grader keeps of a cell's output: at most a budget of bytes per cell, and a note when
the kernel's cgroup stopped one of its processes for memory.

The sandbox cannot cap output inside the kernel (student code can reach the kernel's sockets),
so the grader's client caps what it keeps as the messages arrive: whatever a print bomb does, the
grader's memory stays bounded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .resources import Limits, size

if TYPE_CHECKING:
    from .sandbox import KernelHandle


class LimitNote:
    """NotebookClient mixin: a cell during which the kernel's cgroup stopped one of the kernel's
    processes for memory (gradlab_grader.kernel.limits) ends with a note naming the limit (the
    cell may have lost only a child process, or the kernel itself).  ``kernel``: the
    :class:`~gradlab_grader.kernel.sandbox.KernelHandle` the client's ``km`` belongs to, set by
    the client's owner (``kernel=`` or when it changes the kernel); None: no note."""

    kernel: KernelHandle | None = None

    async def async_execute_cell(self, cell, cell_index, *args, **kw):
        group = self.kernel.cgroup if self.kernel is not None else None
        before = group.oom_kills() if group is not None else 0
        try:
            return await super().async_execute_cell(cell, cell_index, *args, **kw)
        finally:
            if group is not None and group.oom_kills() > before:
                from nbformat.v4 import new_output

                limit = size(self.kernel.limits.kernel_memory_bytes)
                cell.outputs.append(new_output("stream", name="stderr", text=(
                    f"\n[gradlab: this kernel's processes together went past its memory limit "
                    f"({limit}); one of them was stopped]\n")))


class OutputBudget:
    """The output the grader keeps per cell: ``limit`` bytes (None: no cap), counted per
    execution of a cell (a re-run cell starts from zero).  The client's owner makes one and
    passes it to the client (``budget=``); :meth:`reset` before each cell."""

    def __init__(self, limit: int | None = Limits().output_bytes):
        self.limit = limit
        self.used: dict = {}  # execution (the request's msg_id, else the cell index) -> bytes
        self.cut: set = set()  # executions whose output went past the limit

    def reset(self) -> None:
        self.used.clear()
        self.cut.clear()

    def spend(self, key, nbytes: int) -> int:
        """Count ``nbytes`` more output of execution ``key``; return the room there was for it."""
        room = (self.limit or 0) - self.used.get(key, 0)
        self.used[key] = self.used.get(key, 0) + nbytes
        return room

    @property
    def exceeded(self) -> bool:
        """Some execution since the last reset went past the limit."""
        return bool(self.cut)


class OutputCap(LimitNote):
    """NotebookClient mixin: keep at most ``budget.limit`` bytes of output per cell (and the
    :class:`LimitNote` of a cell that went past the kernel's memory limit).

    ``class Client(OutputCap, NotebookClient)``; ``Client(nb, km=km, budget=OutputBudget(n))``
    (default: ``Limits().output_bytes``).  Outputs past the limit are dropped as they arrive —
    the grader's memory stays bounded whatever a print bomb does — and one stderr note in the
    cell says so.  The sandbox cannot do this in the kernel: student code can reach the kernel's
    sockets.
    """

    def __init__(self, *args, budget: OutputBudget | None = None, kernel: KernelHandle | None = None, **kw):
        self.budget = budget or OutputBudget()
        self.kernel = kernel
        super().__init__(*args, **kw)

    def output(self, outs, msg, display_id, cell_index):
        budget = self.budget
        if budget.limit is None:
            return super().output(outs, msg, display_id, cell_index)
        key = msg.get("parent_header", {}).get("msg_id") or cell_index
        if key in budget.cut:
            return None
        content = msg.get("content", {})
        nbytes = len(json.dumps(content, default=str))
        room = budget.spend(key, nbytes)
        if nbytes <= room:
            return super().output(outs, msg, display_id, cell_index)
        budget.cut.add(key)
        if msg.get("msg_type") == "stream" and room > 0:
            # keep the head of the text that overflowed
            msg = {**msg, "content": {**content, "text": content.get("text", "")[:room]}}
            super().output(outs, msg, display_id, cell_index)
        from nbformat.v4 import new_output
        note = new_output("stream", name="stderr",
                          text=f"\n[gradlab: output beyond {size(budget.limit)} dropped]\n")
        outs.append(note)
        return note
