"""gradlab.exercises.optimizers: each known mistake, written independently in plain NumPy as a
student would, is named by its own hint, one step and along a path; a correct rule passes; a
schedule that returns no number says so in one message."""

from __future__ import annotations

import numpy as np
import pytest

from gradlab import checks
from gradlab.exercises import optimizers as ex


def _zeros(w, state, key):
    return np.zeros_like(np.asarray(w, dtype=float)) if state is None else state[key]


def momentum_uphill(w, dw, state=None, lr=1e-2, beta=0.9):
    v = beta * _zeros(w, state, "v") + dw
    return np.asarray(w, dtype=float) + lr * v, {"t": 0, "v": v}


def nesterov_plain(w, dw, state=None, lr=1e-2, alpha=0.9):
    v = alpha * _zeros(w, state, "v") - lr * np.asarray(dw, dtype=float)
    return np.asarray(w, dtype=float) + v, {"t": 0, "v": v}


def adagrad_no_root(w, dw, state=None, lr=1e-2, eps=1e-7):
    r = _zeros(w, state, "r") + np.square(dw)
    return np.asarray(w, dtype=float) - lr / (eps + r) * dw, {"t": 0, "r": r}


def rmsprop_eps_inside(w, dw, state=None, lr=1e-3, rho=0.9, eps=1e-8):
    r = rho * _zeros(w, state, "r") + (1 - rho) * np.square(dw)
    return np.asarray(w, dtype=float) - lr / np.sqrt(eps + r) * dw, {"t": 0, "r": r}


def adam_uncorrected(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * _zeros(w, state, "m") + (1 - beta1) * np.asarray(dw, dtype=float)
    v = beta2 * _zeros(w, state, "v") + (1 - beta2) * np.square(dw)
    t = 0 if state is None else state["t"]
    return np.asarray(w, dtype=float) - lr * m / (np.sqrt(v) + eps), {"t": t + 1, "m": m, "v": v}


def adam_eps_inside(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    t = (0 if state is None else state["t"]) + 1
    m = beta1 * _zeros(w, state, "m") + (1 - beta1) * np.asarray(dw, dtype=float)
    v = beta2 * _zeros(w, state, "v") + (1 - beta2) * np.square(dw)
    step = lr * (m / (1 - beta1 ** t)) / np.sqrt(v / (1 - beta2 ** t) + eps)
    return np.asarray(w, dtype=float) - step, {"t": t, "m": m, "v": v}


# a student's wrong rule -> (the exercise, its hyperparameters, the exercise's mistake it is)
WRONG = {momentum_uphill: ("momentum", {"lr": 0.1, "beta": 0.8}, ex.plus_sign),
         nesterov_plain: ("nesterov", {"lr": 0.1, "alpha": 0.8}, ex.optim.momentum_velocity),
         adagrad_no_root: ("adagrad", {"lr": 0.1, "eps": 1e-3}, ex.no_root),
         rmsprop_eps_inside: ("rmsprop", {"lr": 0.1, "rho": 0.9, "eps": 0.1}, ex.eps_inside),
         adam_uncorrected: ("adam", {"lr": 0.1}, ex.uncorrected),
         adam_eps_inside: ("adam", {"lr": 0.1, "eps": 0.1}, ex.adam_eps_inside)}


def _state(rule, shape, rng):
    entries = {key: rng.uniform(0.1, 1.0, size=shape) for key in ex.KEYS[rule]}
    return {"t": 2, **entries}


@pytest.mark.parametrize("wrong", list(WRONG), ids=lambda fn: fn.__name__)
@pytest.mark.parametrize("shape", [(3,), (2, 4)])
def test_a_known_mistake_is_named_by_its_hint(wrong, shape):
    rule, hyper, mistake = WRONG[wrong]
    rng = np.random.default_rng(sum(shape))
    w, dw = rng.normal(size=shape), rng.normal(size=shape)
    (hint,) = [h for h, fn in ex.MISTAKES[rule].items() if fn is mistake]
    with pytest.raises(checks.CheckFailure) as step:
        ex.check_step(rule, wrong, w, dw, _state(rule, shape, rng), name=f"{rule} one step", **hyper)
    with pytest.raises(checks.CheckFailure) as path:
        ex.check_path(rule, wrong, w, rng.normal(size=(4, *shape)), name=f"{rule} four steps", **hyper)
    for failure in (step.value, path.value):
        assert (failure.diagnostic, failure.hint) == ("known-mistake", hint)


def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    t = (0 if state is None else state["t"]) + 1
    m = beta1 * _zeros(w, state, "m") + (1 - beta1) * np.asarray(dw, dtype=float)
    v = beta2 * _zeros(w, state, "v") + (1 - beta2) * np.square(dw)
    step = lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return np.asarray(w, dtype=float) - step, {"t": t, "m": m, "v": v}


def test_a_correct_rule_passes_and_its_result_comes_back():
    rng = np.random.default_rng(5)
    w, dw = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    state = _state("adam", (2, 3), rng)
    got = ex.check_step("adam", adam, w, dw, state, lr=0.1, name="adam")
    want = adam(w, dw, state, lr=0.1)
    checks.assert_close(got, (want[0], want[1]["m"], want[1]["v"]), rtol=0, atol=0)
    path = ex.check_path("adam", adam, w, rng.normal(size=(5, 2, 3)), lr=0.1, name="adam, five steps")
    assert path.shape == (5, 2, 3)


def test_a_schedule_that_returns_no_number_says_so():
    def cyclical_lr(base_lr=1e-3, max_lr=6e-3, step_size=2000):
        return lambda t: None if t >= step_size else base_lr
    with pytest.raises(checks.CheckFailure) as info:
        ex.check_schedule(cyclical_lr, (), [0, 1000, 2000], "cyclical_lr() at t = 0, 1000, 2000")
    assert info.value.diagnostic == "none"
    assert "at t = 2000 it returned None" in str(info.value)
