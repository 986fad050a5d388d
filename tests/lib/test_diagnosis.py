"""gradlab.diagnosis through checks.compare: a cause is named only when it holds on every probe,
and never one the answer does not have."""

import numpy as np
import pytest

from gradlab import checks, layers, optim


def failure_of(student, reference, *args, **kwargs):
    with pytest.raises(checks.CheckFailure) as info:
        checks.compare(student, reference, *args, **kwargs)
    return info.value


def clip_by_norm(g, max_norm):
    norm = np.linalg.norm(g)
    return g * (max_norm / norm) if norm > max_norm else g


def test_a_factor_that_holds_on_one_input_only_is_not_named():
    """A clip that always rescales is 0.5× the reference on this input (‖g‖ = 2 max_norm), and
    some other factor on every other: no "missing ½"."""
    always = lambda g, max_norm: g * (max_norm / np.linalg.norm(g))
    g = np.array([0.6, 0.8]) * 0.5          # ‖g‖ = 0.5 = max_norm / 2: rescaled by 2
    failure = failure_of(always, clip_by_norm, g, 1.0)
    assert failure.diagnostic == "mismatch" and failure.hint.startswith("no single cause found")
    assert "½" not in str(failure) and "factor 2" not in str(failure)


@pytest.mark.parametrize("shape", [(4, 3), (7, 2), (3, 5)])
def test_a_mean_over_the_batch_is_named_by_n(shape):
    rng = np.random.default_rng(sum(shape))
    x, w, dout = rng.normal(size=(shape[0], 6)), rng.normal(size=(6, shape[1])), rng.normal(size=shape)

    def mine(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout, dout.mean(axis=0)
    failure = failure_of(mine, layers.affine_backward, dout, (x, w))
    assert failure.call.endswith("→ db") and failure.diagnostic == "factor"
    assert failure.hint == "a mean over the N examples (1/N) where their sum was expected"


def test_the_upstream_gradient_left_out_is_named_with_its_parameter():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 4))
    failure = failure_of(lambda dout, cache: (cache > 0).astype(float), lambda dout, cache: dout * (cache > 0),
                         rng.normal(size=(5, 4)), x)
    assert failure.diagnostic == "upstream" and "`dout` is not multiplied in" in failure.hint


def test_a_mask_that_keeps_zero_is_named_only_at_zero():
    x = np.array([[1.0, -2.0, 0.0], [0.0, 3.0, -1.0]])
    dout = np.arange(1.0, 7.0).reshape(2, 3)
    failure = failure_of(lambda dout, x: dout * (x >= 0), lambda dout, x: dout * (x > 0), dout, x)
    assert failure.diagnostic == "mask" and "x > 0 against x >= 0" in failure.hint


def test_an_update_rule_that_does_not_store_its_velocity():
    def forgetful(w, dw, state=None, lr=1e-2, beta=0.9):
        v_old = np.zeros_like(w) if state is None else state["v"]
        v = beta * v_old + dw
        return w - lr * v, {"t": (state or {}).get("t", 0) + 1, "v": v_old}
    w, dw = np.array([1.0, -2.0, 0.5]), np.array([0.5, 1.0, -2.0])
    failure = failure_of(checks.one_step(forgetful, ("v",)), checks.one_step(optim.momentum, ("v",)), w, dw,
                         {"t": 2, "v": np.array([1.0, 0.0, -1.0])}, lr=0.1)
    assert failure.diagnostic == "state-write" and 'state["v"]' in failure.call


@pytest.mark.parametrize("t", [0, 3])
def test_adams_missing_correction_is_named_by_moment(t):
    def no_m_correction(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        state = state or {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
        t = state["t"] + 1
        m = beta1 * state["m"] + (1 - beta1) * dw
        v = beta2 * state["v"] + (1 - beta2) * dw * dw
        return w - lr * m / (np.sqrt(v / (1 - beta2 ** t)) + eps), {"t": t, "m": m, "v": v}
    rng = np.random.default_rng(t)
    state = None if t == 0 else {"t": t, "m": rng.normal(size=4), "v": rng.uniform(0.5, 1, size=4)}
    failure = failure_of(checks.one_step(no_m_correction), checks.one_step(optim.adam),
                         rng.normal(size=4), rng.normal(size=4), state, lr=0.1)
    assert failure.diagnostic == "factor" and failure.hint.startswith("the first moment m is not bias-corrected")


def test_hints_wrap_at_word_boundaries_and_keep_brackets_whole():
    failure = checks.CheckFailure("x", "factor", call="adam(w, dw) → next_w",
                                  hint="neither moment is bias-corrected: divide m by (1 - beta1^t) and v by "
                                       "(1 - beta2^t), t counting this step, and a few more words to wrap")
    lines = "\n".join(failure.student_lines()).splitlines()
    assert all(len(line) <= checks.WIDTH + 12 for line in lines)   # + the colour codes of the first
    assert any("(1 - beta2^t)," in line for line in lines) and len(lines) >= 3
