"""Every mistake that states its ``message`` shows exactly that hint in each failing test of its
exercise (the mistake set is the specification of the hints), and never a traceback."""

from __future__ import annotations

import pytest

from gradlab import checks
from gradlab_grader import mistakes

from .harness import outcomes
from conftest import REPO

WITH_MESSAGE = [m for a in sorted((REPO / "solutions").iterdir()) if a.is_dir()
                for m in mistakes.load(a) if m.message]


@pytest.mark.parametrize("mistake", WITH_MESSAGE, ids=lambda m: m.name)
def test_the_mistake_shows_its_message(mistake):
    failing = [(gid, shown) for gid, shown in outcomes(mistake.exercise, mistake.source) if shown is not None]
    assert failing, f"{mistake.name}: no test fails"
    for gid, shown in failing:
        assert isinstance(shown, checks.CheckFailure), f"{gid}: {shown!r}"
        # the likely mistake, or (a message without one) what the test says
        assert (shown.diagnostic, shown.hint or shown.problem) == (mistake.hint, mistake.message), gid


PREDICT_FLAT = """
def predict(params, bn_state, X):
    L = sum(1 for key in params if key.startswith("W"))
    a = X
    for l in range(1, L):
        z_hat = (a @ params[f"W{l}"] - bn_state[f"mean{l}"]) / np.sqrt(bn_state[f"var{l}"] + BN_EPS)
        a = np.maximum(params[f"gamma{l}"] * z_hat + params[f"beta{l}"], 0.0)
    return (a @ params[f"W{L}"] + params[f"b{L}"]).argmax(axis=0)
"""


def test_a_whole_names_the_part_that_broke_it():
    """train_model with a predict that returns one label per class: its tests name `predict`."""
    failing = [shown for _, shown in outcomes("predict", PREDICT_FLAT, tests_of="train_model") if shown]
    assert failing
    for shown in failing:
        assert isinstance(shown, checks.CheckFailure) and shown.diagnostic == "part"
        assert shown.problem == "your `predict` returned shape (10,), expected shape (5,)"
        assert shown.hint == "the whole uses your `predict`: fix it first (its own tests say more)"
