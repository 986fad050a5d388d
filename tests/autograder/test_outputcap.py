"""The output cap on its own: what a client keeps of a cell's output, without a kernel."""

from __future__ import annotations

import json

import pytest

from gradlab_grader.kernel.outputcap import OutputBudget, OutputCap


class Keeper:
    """The part of nbclient's client the cap wraps: ``output`` appends what it is given."""

    def __init__(self, nb=None, km=None):
        self.nb, self.km = nb, km

    def output(self, outs, msg, display_id, cell_index):
        outs.append(msg["content"])
        return msg["content"]


class Client(OutputCap, Keeper):
    pass


def stream(text, parent="run-1"):
    return {"msg_type": "stream", "parent_header": {"msg_id": parent},
            "content": {"name": "stdout", "text": text}}


def cost(text):
    return len(json.dumps(stream(text)["content"]))


@pytest.mark.parametrize("limit,chunk", [(1000, 70), (4096, 333), (200, 200)])
def test_output_past_the_budget_is_dropped_with_one_note(limit, chunk):
    client, outs = Client(None, km=None, budget=OutputBudget(limit)), []
    texts = ["x" * chunk for _ in range(3 * limit // chunk + 3)]
    for text in texts:
        client.output(outs, stream(text), None, 0)
    kept = [o for o in outs if o.get("name") == "stdout"]
    notes = [o for o in outs if o.get("name") == "stderr"]
    fit = 0
    while sum(cost(t) for t in texts[:fit + 1]) <= limit:
        fit += 1
    assert len(notes) == 1 and "output beyond" in notes[0]["text"]
    assert [o["text"] for o in kept[:fit]] == texts[:fit]
    assert len(kept) in (fit, fit + 1)   # the head of the text that overflowed, when there was room
    assert sum(len(o["text"]) for o in kept) <= limit
    assert client.budget.exceeded


def test_the_budget_counts_each_execution_and_resets():
    budget = OutputBudget(cost("x" * 50) + 10)
    client, first, second = Client(budget=budget), [], []
    client.output(first, stream("x" * 50, "run-1"), None, 0)
    client.output(second, stream("y" * 50, "run-2"), None, 0)   # another execution: its own budget
    assert not budget.exceeded and len(first) == len(second) == 1
    client.output(first, stream("x" * 50, "run-1"), None, 0)
    assert budget.exceeded
    budget.reset()
    assert not budget.exceeded and budget.used == {}


def test_no_limit_keeps_everything():
    client, outs = Client(budget=OutputBudget(None)), []
    for _ in range(100):
        client.output(outs, stream("z" * 10_000), None, 0)
    assert len(outs) == 100 and not client.budget.exceeded
