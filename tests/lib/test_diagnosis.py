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


@pytest.mark.parametrize("rho", [0.9, 0.7])
def test_running_average_weights_swapped_are_named(rho):
    """RMSProp's r = (1 - rho) r + rho g²: what the reference gives with rho -> 1 - rho, on every
    probe; the averaging weights, not a factor, are named."""
    def swapped(w, dw, state=None, lr=1e-3, rho=0.9, eps=1e-8):
        r_old = np.zeros_like(w) if state is None else state["r"]
        r = (1 - rho) * r_old + rho * dw * dw
        return w - lr / (eps + np.sqrt(r)) * dw, {"t": (state or {}).get("t", 0) + 1, "r": r}
    rng = np.random.default_rng(int(rho * 10))
    w, dw = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    failure = failure_of(checks.one_step(swapped, ("r",)), checks.one_step(optim.rmsprop, ("r",)), w, dw,
                         {"t": 3, "r": rng.uniform(0.5, 2, size=(3, 4))}, lr=0.03, rho=rho)
    assert failure.diagnostic == "swapped" and "`rho` and `1 - rho` swapped" in failure.hint
    assert f"`rho` = {1 - rho:g}" in failure.problem


def test_a_plain_ema_form_of_momentum_is_not_called_swapped():
    """v = beta v + (1 - beta) g is not momentum with beta -> 1 - beta: nothing is named swapped."""
    def ema(w, dw, state=None, lr=1e-2, beta=0.9):
        v = beta * (np.zeros_like(w) if state is None else state["v"]) + (1 - beta) * dw
        return w - lr * v, {"t": (state or {}).get("t", 0) + 1, "v": v}
    rng = np.random.default_rng(5)
    failure = failure_of(checks.one_step(ema, ("v",)), checks.one_step(optim.momentum, ("v",)),
                         rng.normal(size=4), rng.normal(size=4), {"t": 2, "v": rng.normal(size=4)}, lr=0.1)
    assert failure.diagnostic != "swapped"


@pytest.mark.parametrize("shape", [(3,), (2, 5)])
def test_a_stored_square_root_is_named_and_a_squared_result_too(shape):
    rng = np.random.default_rng(len(shape))
    x = rng.uniform(0.5, 3.0, size=shape)
    failure = failure_of(lambda x: np.sqrt(x * x + 1), lambda x: x * x + 1, x)
    assert failure.diagnostic == "root" and "square root of the expected value" in failure.problem
    failure = failure_of(lambda x: (x * x + 1) ** 2, lambda x: x * x + 1, x)
    assert failure.diagnostic == "root" and "square of the expected value" in failure.problem


def test_a_root_that_holds_only_at_zero_and_one_is_not_named():
    """sqrt(0) = 0 and sqrt(1) = 1: a mask is its own square root, never "a square root too many"."""
    x = np.array([[1.0, -2.0, 0.0], [0.5, 3.0, -1.0]])
    failure = failure_of(lambda x: (x >= 0).astype(float), lambda x: (x > 0).astype(float), x)
    assert failure.diagnostic != "root"


@pytest.mark.parametrize("n, d", [(5, 3), (4, 6)])
def test_a_reduction_over_the_other_axis_is_named_though_the_shape_differs(n, d):
    rng = np.random.default_rng(n)
    x, w, dout = rng.normal(size=(n, 4)), rng.normal(size=(4, d)), rng.normal(size=(n, d))

    def mine(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout, dout.sum(axis=1)
    failure = failure_of(mine, layers.affine_backward, dout, (x, w))
    assert failure.diagnostic == "axis" and "`dout` summed over axis 1" in failure.problem
    assert failure.hint.startswith("summed over the wrong axis")


def test_a_wrong_shape_without_a_relation_keeps_its_plain_message():
    failure = failure_of(lambda x: np.ones(7), lambda x: 2 * x, np.arange(3.0))
    assert failure.diagnostic == "shape" and failure.problem == "expected shape (3,), got (7,)"


def test_hints_wrap_at_word_boundaries_and_keep_brackets_whole():
    failure = checks.CheckFailure("x", "factor", call="adam(w, dw) → next_w",
                                  hint="neither moment is bias-corrected: divide m by (1 - beta1^t) and v by "
                                       "(1 - beta2^t), t counting this step, and a few more words to wrap")
    lines = "\n".join(failure.student_lines()).splitlines()
    assert all(len(line) <= checks.WIDTH + 12 for line in lines)   # + the colour codes of the first
    assert any("(1 - beta2^t)," in line for line in lines) and len(lines) >= 3


def counted(fn):
    """``fn`` counting its calls (the diagnosis probes an answer by calling it again)."""
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return fn(*args, **kwargs)
    wrapper.calls = 0
    return wrapper


def _upstream_left_out():
    rng = np.random.default_rng(3)
    return ((lambda dout, cache: (cache > 0).astype(float)), (lambda fn: fn),
            (lambda dout, cache: dout * (cache > 0)), (rng.normal(size=(5, 4)), rng.normal(size=(5, 4))), {},
            "upstream")


def _velocity_not_stored():
    def forgetful(w, dw, state=None, lr=1e-2, beta=0.9):
        v_old = np.zeros_like(w) if state is None else state["v"]
        return w - lr * (beta * v_old + dw), {"t": (state or {}).get("t", 0) + 1, "v": v_old}
    return (forgetful, (lambda fn: checks.one_step(fn, ("v",))), checks.one_step(optim.momentum, ("v",)),
            (np.array([1.0, -2.0, 0.5]), np.array([0.5, 1.0, -2.0]), {"t": 2, "v": np.array([1.0, 0.0, -1.0])}),
            {"lr": 0.1}, "state-write")


def _clip_always():
    return ((lambda g, max_norm: g * (max_norm / np.linalg.norm(g))), (lambda fn: fn), clip_by_norm,
            (np.array([0.3, 0.4]), 1.0), {}, "mismatch")


@pytest.mark.parametrize("case", [_upstream_left_out, _velocity_not_stored, _clip_always])
def test_the_measuring_switch_turns_the_diagnosis_off_at_call_time(monkeypatch, case):
    """GRADLAB_DIAGNOSIS=off, read at each failing check (set after gradlab was imported): the
    answer is called once, no probe, and the failure is the bare comparison's; unset, the same
    answer is probed and diagnosed."""
    answer, as_tested, reference, args, kwargs, diagnosed = case()
    monkeypatch.delenv("GRADLAB_DIAGNOSIS", raising=False)
    on = counted(answer)
    failure_on = failure_of(as_tested(on), reference, *args, **kwargs)
    assert failure_on.diagnostic == diagnosed and on.calls > 1

    monkeypatch.setenv("GRADLAB_DIAGNOSIS", "off")
    off = counted(answer)
    failure_off = failure_of(as_tested(off), reference, *args, **kwargs)
    assert off.calls == 1
    bare = checks.first_failure(as_tested(answer)(*args, **kwargs), reference(*args, **kwargs))
    assert (failure_off.diagnostic, failure_off.hint) == (bare.diagnostic, bare.hint)
    assert "no single cause found" not in str(failure_off)


def _history(seed, shape, keys):
    """w, dw and a state with a history (positive entries: second moments are sums of squares)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape), rng.normal(size=shape),
            {"t": 3, **{k: rng.uniform(0.2, 2.0, size=shape) for k in keys}})


@pytest.mark.parametrize("beta, shape", [(0.9, (4,)), (0.6, (2, 3)), (0.5, (3,))])
def test_momentum_in_its_moving_average_form_is_named_by_one_minus_beta(beta, shape):
    """v = beta v + (1 - beta) g in the rule v = beta v + g: the reference's rule fed (1 - beta) dw,
    on every probe and for another beta too (so at beta = 0.5 it is not "a factor ½")."""
    def ema(w, dw, state=None, lr=1e-2, beta=0.9):
        v = beta * (np.zeros_like(w) if state is None else state["v"]) + (1 - beta) * dw
        return w - lr * v, {"t": (state or {}).get("t", 0) + 1, "v": v}
    w, dw, state = _history(len(shape), shape, ("v",))
    failure = failure_of(checks.one_step(ema, ("v",)), checks.one_step(optim.momentum, ("v",)), w, dw, state,
                         lr=0.1, beta=beta)
    assert failure.diagnostic == "factor" and "(1 − beta) × dw" in failure.problem
    assert "v = beta·v + (1 - beta)·dw" in failure.hint


def test_a_constant_factor_on_the_gradient_is_not_called_one_minus_beta():
    """dw × 0.1 at beta = 0.9 matches (1 - beta) dw on the call, not once beta changes."""
    def tenth(w, dw, state=None, lr=1e-2, beta=0.9):
        v = beta * (np.zeros_like(w) if state is None else state["v"]) + 0.1 * dw
        return w - lr * v, {"t": (state or {}).get("t", 0) + 1, "v": v}
    w, dw, state = _history(7, (5,), ("v",))
    failure = failure_of(checks.one_step(tenth, ("v",)), checks.one_step(optim.momentum, ("v",)), w, dw, state,
                         lr=0.1, beta=0.9)
    assert "beta" not in failure.problem and "beta" not in (failure.hint or "")


@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_a_gradient_with_the_wrong_sign_in_the_velocity_is_named(shape):
    """v = alpha v + lr g, w + v (deck 001's convention with the sign of g flipped): the reference
    fed −dw, on every probe, though the step is no multiple of the expected one."""
    def uphill(w, dw, state=None, lr=1e-2, alpha=0.9):
        v = alpha * (np.zeros_like(w) if state is None else state["v"]) + lr * dw
        return w + v, {"t": (state or {}).get("t", 0) + 1, "v": v}
    w, dw, state = _history(len(shape) + 10, shape, ("v",))
    failure = failure_of(checks.one_step(uphill, ("v",)), checks.one_step(optim.momentum_velocity, ("v",)),
                         w, dw, state, lr=0.1)
    assert failure.diagnostic == "sign" and "−dw" in failure.problem and "uphill" in failure.hint


def _second_moment(rule, r_old, g2, rho):
    """The state entry each rule keeps, from g2 where it takes dw * dw (written here, not gradlab's:
    a test's answer never calls the reference)."""
    return r_old + g2 if rule == "adagrad" else rho * r_old + (1 - rho) * g2


def _rule(rule, g2_of, root_op):
    """rmsprop / adagrad with the squared gradient ``g2_of(dw)`` and the step ``root_op(dw, sqrt(r))``."""
    def update(w, dw, state=None, lr=1e-2, rho=0.9, eps=1e-7):
        r = _second_moment(rule, np.zeros_like(w) if state is None else state["r"], g2_of(dw), rho)
        return w - lr * root_op(dw, np.sqrt(r), eps), {"t": (state or {}).get("t", 0) + 1, "r": r}
    return update


def _adam_abs(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    state = state or {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * np.abs(dw)
    return w - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps), {"t": t, "m": m, "v": v}


@pytest.mark.parametrize("rule, hyper", [("rmsprop", {"rho": 0.8}), ("adagrad", {})])
def test_a_step_multiplied_by_the_root_where_it_divides_is_named(rule, hyper):
    times_root = _rule(rule, lambda dw: dw * dw, lambda dw, root, eps: root * dw)
    w, dw, state = _history(3, (3, 4), ("r",))
    failure = failure_of(checks.one_step(times_root, ("r",)), checks.one_step(getattr(optim, rule), ("r",)),
                         w, dw, state, lr=0.05, **hyper)
    assert failure.diagnostic == "root" and 'state["r"]' in failure.problem
    assert "multiplies by sqrt(r) where it should divide" in failure.hint


def test_a_step_off_by_another_elementwise_factor_is_not_called_a_root():
    """× r² instead of ÷ √r: no "multiplies by sqrt(r)"."""
    times_square = _rule("rmsprop", lambda dw: dw * dw, lambda dw, root, eps: root ** 4 * dw)
    w, dw, state = _history(4, (6,), ("r",))
    failure = failure_of(checks.one_step(times_square, ("r",)), checks.one_step(optim.rmsprop, ("r",)),
                         w, dw, state, lr=0.05)
    assert "sqrt(r)" not in (failure.hint or "") and failure.diagnostic != "root"


@pytest.mark.parametrize("rule, key, shape", [("adam", "v", (4,)), ("rmsprop", "r", (2, 3)), ("adagrad", "r", (3,))])
def test_a_second_moment_of_the_absolute_gradient_is_named(rule, key, shape):
    """|dw| where dw * dw goes: the state entry is what the rule keeps for √|dw| in place of dw
    (the reference is even in dw), on every probe."""
    absolute = _adam_abs if rule == "adam" else _rule(rule, np.abs, lambda dw, root, eps: dw / (eps + root))
    keys = ("m", "v") if rule == "adam" else ("r",)
    w, dw, state = _history(sum(shape), shape, keys)
    failure = failure_of(checks.one_step(absolute, keys), checks.one_step(getattr(optim, rule), keys),
                         w, dw, state, lr=0.05)
    assert failure.diagnostic == "square" and f'state["{key}"]' in failure.problem
    assert "dw * dw" in failure.hint and "|dw|" in failure.hint
