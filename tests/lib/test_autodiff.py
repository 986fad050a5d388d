"""Tests for gradlab.autodiff.

Oracles: deck 001's logistic chain xi_1 ... xi_6 worked out by hand (values, local
derivatives, dL^A/dW = -y X sigma(-W X), dL^B/dW = (1 - y) X sigma(W X)), deck 000's
gradient of x^2 + xy + y^2, closed forms, and the `autograd` package as an independent
implementation on seeded random expressions that use every operation.
"""

import math
import types

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad as ag_grad

from gradlab import autodiff as ad
from gradlab.autodiff import Dual, Value, derivative

SEEDS = [0, 1, 2, 3, 4]

# The same formula is written once against an `ops` namespace and run three ways.
OURS = types.SimpleNamespace(exp=ad.exp, log=ad.log, tanh=ad.tanh, sigmoid=ad.sigmoid, relu=ad.relu)
AUTOGRAD = types.SimpleNamespace(
    exp=anp.exp,
    log=anp.log,
    tanh=anp.tanh,
    sigmoid=lambda x: 1.0 / (1.0 + anp.exp(-x)),
    relu=lambda x: anp.where(x > 0, x, 0.0),
)


def sigma(t):
    return 1.0 / (1.0 + math.exp(-t))


# ------------------------------------------------------------------ deck 001: logistic chain

def logistic_chain(W, X, y, ops):
    """deck 001's split L = L^A + L^B of the logistic loss, one elementary node per line."""
    n = {}
    n["xi1"] = -W * X                 # xi_1 = -W^T X
    n["xi2"] = ops.exp(n["xi1"])      # xi_2 = e^{xi_1}
    n["xi3"] = 1 + n["xi2"]           # xi_3 = 1 + xi_2
    n["xi4"] = 1 / n["xi3"]           # xi_4 = 1 / xi_3 = p
    n["xi5"] = ops.log(n["xi4"])      # xi_5 = log xi_4
    n["LA"] = -y * n["xi5"]           # L^A = -y xi_5
    n["xi5B"] = 1 - n["xi4"]          # L^B branch: xi_5 = 1 - xi_4
    n["xi6"] = ops.log(n["xi5B"])     #             xi_6 = log xi_5
    n["LB"] = -(1 - y) * n["xi6"]     # L^B = -(1 - y) xi_6
    return n


DECK_VALUE = -3 * math.exp(-9) / (1 + math.exp(-9))  # -3 sigma(-9), by hand from the chain


def test_deck001_number_is_minus_3_sigma_of_minus_9():
    assert DECK_VALUE == pytest.approx(-3 * sigma(-9), rel=1e-15)
    # The deck prints the magnitude 0.00037018372: the first 11 decimals of 3 sigma(-9).
    assert int(abs(DECK_VALUE) * 1e11) == 37018372


def test_deck001_reverse_mode():
    W = Value(3.0)
    nodes = logistic_chain(W, 3.0, 1.0, OURS)
    nodes["LA"].backward()
    assert abs(W.grad - (-3 * sigma(-9))) < 1e-12
    assert int(abs(W.grad) * 1e11) == 37018372
    # The deck's backward table, dL/dxi_n, derived by hand at X = 3, y = 1, W = 3:
    e9 = math.exp(-9)
    xi3 = 1 + e9
    expected = {
        "LA": 1.0,
        "xi5": -1.0,                  # dL/dxi_5 = -y
        "xi4": -xi3,                  # * 1/xi_4 = xi_3
        "xi3": 1 / xi3,               # * (-1/xi_3^2)
        "xi2": 1 / xi3,               # * 1
        "xi1": e9 / xi3,              # * e^{xi_1}  (= sigma(-9))
    }
    for name, g in expected.items():
        assert nodes[name].grad == pytest.approx(g, rel=1e-12), name
    # node values from the deck's table
    values = {"xi1": -9.0, "xi2": e9, "xi3": xi3, "xi4": 1 / xi3, "xi5": math.log(1 / xi3),
              "LA": -math.log(1 / xi3)}
    for name, v in values.items():
        assert nodes[name].data == pytest.approx(v, rel=1e-14), name


def test_deck001_forward_mode():
    assert abs(derivative(lambda w: logistic_chain(w, 3.0, 1.0, OURS)["LA"], 3.0)
               - (-3 * sigma(-9))) < 1e-12
    # The deck's forward table, d xi_n / dW (hand-derived; note d xi_4/d xi_3 = -1/xi_3^2 < 0
    # flips the sign at xi_4, so d xi_4/dW and d xi_5/dW are positive).
    e9 = math.exp(-9)
    xi3 = 1 + e9
    nodes = logistic_chain(Dual(3.0, 1.0), 3.0, 1.0, OURS)
    expected = {
        "xi1": -3.0,
        "xi2": -3 * e9,
        "xi3": -3 * e9,
        "xi4": 3 * e9 / xi3**2,
        "xi5": 3 * e9 / xi3,
        "LA": -3 * e9 / xi3,
    }
    for name, d in expected.items():
        assert nodes[name].deriv == pytest.approx(d, rel=1e-12), name
    assert int(abs(nodes["LA"].deriv) * 1e11) == 37018372


@pytest.mark.parametrize("seed", SEEDS)
def test_logistic_loss_gradient_both_modes(seed):
    # deck 001: dL^A/dW = -y X e^{-WX} / (1 + e^{-WX}) = -y X sigma(-WX),
    #           dL^B/dW = (1 - y) X / (1 + e^{-WX})    = (1 - y) X sigma(WX);
    # their sum is the familiar X (p - y).
    rng = np.random.default_rng(seed)
    for _ in range(4):
        X = rng.uniform(-2, 2)
        W = rng.uniform(-1.5, 1.5)
        y = float(rng.integers(0, 2)) if rng.random() < 0.5 else rng.uniform(0, 1)
        dA = -y * X * sigma(-W * X)
        dB = (1 - y) * X * sigma(W * X)
        # reverse
        for part, want in (("LA", dA), ("LB", dB)):
            Wv = Value(W)
            logistic_chain(Wv, X, y, OURS)[part].backward()
            assert Wv.grad == pytest.approx(want, rel=1e-10, abs=1e-13)
        Wv = Value(W)
        n = logistic_chain(Wv, X, y, OURS)
        (n["LA"] + n["LB"]).backward()
        assert Wv.grad == pytest.approx(X * (sigma(W * X) - y), rel=1e-10, abs=1e-13)
        # forward
        n = logistic_chain(Dual(W, 1.0), X, y, OURS)
        assert n["LA"].deriv == pytest.approx(dA, rel=1e-10, abs=1e-13)
        assert n["LB"].deriv == pytest.approx(dB, rel=1e-10, abs=1e-13)


# ------------------------------------------------------------------ deck 000

@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_of_x2_xy_y2(seed):
    rng = np.random.default_rng(seed)
    x0, y0 = rng.uniform(-5, 5, size=2)
    x, y = Value(x0), Value(y0)
    f = x**2 + x * y + y**2
    f.backward()
    assert (x.grad, y.grad) == pytest.approx((2 * x0 + y0, x0 + 2 * y0), rel=1e-14)
    fx = lambda t: t**2 + t * y0 + y0**2
    assert derivative(fx, x0) == pytest.approx(2 * x0 + y0, rel=1e-14)


@pytest.mark.parametrize("x0", [-1.7, 0.4, 2.0])
def test_chain_rule_x4_both_modes(x0):
    # deck 000: (x^2)^2 has derivative 4 x^3
    x = Value(x0)
    ((x**2) ** 2).backward()
    assert x.grad == pytest.approx(4 * x0**3, rel=1e-14)
    assert derivative(lambda t: (t**2) ** 2, x0) == pytest.approx(4 * x0**3, rel=1e-14)


# ------------------------------------------------------------------ all ops against autograd

# Each op takes (ops, x, y); the shapes of the formulas keep every op inside its domain.
OPS = {
    "add": lambda o, x, y: x + y,
    "sub": lambda o, x, y: x - y,
    "mul": lambda o, x, y: x * y,
    "div": lambda o, x, y: x / (y * y + 0.5),
    "radd": lambda o, x, y: 1.5 + x,
    "rsub": lambda o, x, y: 0.5 - x,
    "rmul": lambda o, x, y: -0.8 * x,
    "rtruediv": lambda o, x, y: 2.0 / (x * x + 1.0),
    "neg": lambda o, x, y: -x,
    "pow2": lambda o, x, y: x**2,
    "pow3": lambda o, x, y: x**3,
    "pow_int_neg": lambda o, x, y: (x * x + 1.0) ** -2,
    "pow_frac": lambda o, x, y: (x * x + 0.25) ** 1.5,
    "exp": lambda o, x, y: o.exp(x),
    "log": lambda o, x, y: o.log(x * x + 0.1),
    "tanh": lambda o, x, y: o.tanh(x),
    "sigmoid": lambda o, x, y: o.sigmoid(x),
    "relu": lambda o, x, y: o.relu(x),
}


def make_program(rng, n_inputs, n_steps):
    """A random straight-line program over the OPS; returns f(ops, *inputs)."""
    names = sorted(OPS)
    steps = [(names[rng.integers(len(names))], rng.integers(0, n_inputs + k, size=2))
             for k in range(n_steps)]

    def f(ops, *inputs):
        pool = list(inputs)
        for name, (i, j) in steps:
            pool.append(OPS[name](ops, pool[i], pool[j]))
        out = pool[n_inputs]
        for node in pool[n_inputs + 1:]:  # every intermediate feeds the output: many reuses
            out = out + node
        return out

    return f, {name for name, _ in steps}


def well_behaved_program(seed, n_inputs=3, n_steps=12):
    """Deterministic rejection sampling: keep the first program whose values and gradient
    (evaluated by autograd) stay finite and moderate at its input point."""
    rng = np.random.default_rng(seed)
    while True:
        f, used = make_program(rng, n_inputs, n_steps)
        x = rng.uniform(-1.5, 1.5, size=n_inputs)
        F = lambda v: f(AUTOGRAD, *[v[k] for k in range(n_inputs)])  # noqa: B023 (used in this pass)
        with np.errstate(all="ignore"):
            val = F(x)
            g = ag_grad(F)(x)
        if np.isfinite(val) and np.all(np.isfinite(g)) and abs(val) < 1e6 and np.abs(g).max() < 1e6:
            return f, x, float(val), g, used


@pytest.mark.parametrize("seed", range(12))
def test_value_random_programs_vs_autograd(seed):
    f, x, val, g, _ = well_behaved_program(seed)
    inputs = [Value(v) for v in x]
    out = f(OURS, *inputs)
    assert out.data == pytest.approx(val, rel=1e-12, abs=1e-12)
    out.backward()
    np.testing.assert_allclose([v.grad for v in inputs], g, rtol=1e-9, atol=1e-9 * (1 + np.abs(g).max()))


@pytest.mark.parametrize("seed", range(12))
def test_dual_random_programs_vs_autograd(seed):
    f, x, val, g, _ = well_behaved_program(seed)
    for i in range(len(x)):  # seed input i: deriv 1 on x_i, 0 elsewhere -> d out / d x_i
        inputs = [Dual(v, 1.0 if k == i else 0.0) for k, v in enumerate(x)]
        out = f(OURS, *inputs)
        assert out.value == pytest.approx(val, rel=1e-12, abs=1e-12)
        assert out.deriv == pytest.approx(g[i], rel=1e-9, abs=1e-9 * (1 + np.abs(g).max()))


def test_random_programs_cover_every_op():
    used = set()
    for seed in range(12):
        used |= well_behaved_program(seed)[4]
    assert used == set(OPS)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_op_both_modes_vs_autograd(name, seed):
    # Each op composed with a smooth outer function, so both arguments get a gradient.
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, size=2)
    op = OPS[name]
    f = lambda o, a, b: o.tanh(op(o, a, b)) * b + a
    F = lambda v: f(AUTOGRAD, v[0], v[1])
    g = ag_grad(F)(x)
    a, b = Value(x[0]), Value(x[1])
    f(OURS, a, b).backward()
    np.testing.assert_allclose([a.grad, b.grad], g, rtol=1e-12, atol=1e-14)
    for i in range(2):
        d = f(OURS, Dual(x[0], float(i == 0)), Dual(x[1], float(i == 1))).deriv
        assert d == pytest.approx(g[i], rel=1e-12, abs=1e-14)


SINGLE = [
    lambda o, x: x**3 - 2 * x + 1 / x,
    lambda o, x: o.sigmoid(x) * o.tanh(x) - o.relu(x - 0.7),
    lambda o, x: o.log(1 + o.exp(x)) / (2.5 - x),
    lambda o, x: (x * x + 1) ** 0.5 * o.exp(-x) - 3 / (x + 4),
    lambda o, x: o.relu(o.tanh(3 * x) - 0.2) ** 2 + (1 - x) * o.log(x),
]


@pytest.mark.parametrize("k", range(len(SINGLE)))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_derivative_vs_autograd(k, seed):
    x0 = float(np.random.default_rng(seed).uniform(0.2, 2.0))
    f = SINGLE[k]
    want = ag_grad(lambda t: f(AUTOGRAD, t))(x0)
    assert derivative(lambda t: f(OURS, t), x0) == pytest.approx(want, rel=1e-12, abs=1e-14)
    v = Value(x0)
    f(OURS, v).backward()
    assert v.grad == pytest.approx(want, rel=1e-12, abs=1e-14)


def test_derivative_of_constant_function_and_int_point():
    assert derivative(lambda t: 5.0, 1.0) == 0.0
    assert derivative(lambda t: t * t, 3) == 6.0


# ------------------------------------------------------------------ engine mechanics

def test_deep_chain_backward_no_recursion_error():
    # 100 000 multiplications: d/dx (x * c^N) = c^N.
    c, N = 1.00001, 100_000
    x = Value(-1.0)
    y = x
    for _ in range(N):
        y = y * c
    y.backward()
    assert x.grad == pytest.approx(c**N, rel=1e-9)
    assert y.data == pytest.approx(-(c**N), rel=1e-9)


def test_deep_tanh_chain_vs_closed_form():
    # y_{k+1} = tanh(y_k): dy_N/dy_0 = prod (1 - y_{k+1}^2), computed here in plain floats.
    x = Value(0.9)
    y = x
    ys = [0.9]
    for _ in range(20_000):
        y = y.tanh()
        ys.append(math.tanh(ys[-1]))
    y.backward()
    want = math.prod(1 - t * t for t in ys[1:])
    assert x.grad == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("a0", [-1.3, 0.5, 2.0])
def test_reused_nodes_accumulate(a0):
    a = Value(a0)
    (a * a).backward()
    assert a.grad == pytest.approx(2 * a0)

    a = Value(a0)
    (a + a).backward()
    assert a.grad == 2.0

    a = Value(a0)
    b = a * a
    (b + b).backward()              # 2 a^2
    assert a.grad == pytest.approx(4 * a0)
    assert b.grad == 2.0

    a = Value(a0)
    b = a * a
    (a * b + b - a / b).backward()  # a^3 + a^2 - 1/a
    assert a.grad == pytest.approx(3 * a0**2 + 2 * a0 + 1 / a0**2)

    a = Value(a0)
    (a - a).backward()
    assert a.grad == 0.0


def test_backward_twice_adds_into_leaves_only():
    # Documented: intermediate grads are recomputed, leaf grads accumulate across calls.
    x0, y0 = 0.7, -1.1
    F = lambda v: anp.tanh(v[0] * v[1]) * 3.0 + v[0] ** 2
    g = ag_grad(F)(np.array([x0, y0]))
    x, y = Value(x0), Value(y0)
    out = (x * y).tanh() * 3.0 + x**2
    out.backward()
    out.backward()
    assert (x.grad, y.grad) == pytest.approx((2 * g[0], 2 * g[1]), rel=1e-12)


def test_leaf_backward_and_graph_bookkeeping():
    a = Value(2.0)
    a.backward()
    assert a.grad == 1.0
    b = Value(3.0)
    c = a * b
    assert c._op == "*" and set(map(id, c._prev)) == {id(a), id(b)}
    assert a._prev == () and a._op == ""


def test_numpy_scalars_on_the_left():
    x = Value(2.0)
    y = np.float64(3.0) * x + np.float64(1.0)
    assert isinstance(y, Value) and y.data == 7.0
    y.backward()
    assert x.grad == 3.0
    d = np.float64(2.0) / Dual(4.0, 1.0)
    assert isinstance(d, Dual) and d.value == 0.5 and d.deriv == pytest.approx(-2.0 / 16)


def test_errors_are_explained():
    with pytest.raises(TypeError):
        Value(1.0) + "a"
    with pytest.raises(TypeError):
        Value(2.0) ** Value(2.0)  # only number exponents
    with pytest.raises(TypeError):
        Dual(1.0, 1.0) * "a"
    with pytest.raises(ValueError, match="positive"):
        Value(-1.0).log()
    with pytest.raises(ValueError, match="positive"):
        ad.log(Dual(0.0, 1.0))
    with pytest.raises(ValueError, match="real"):
        Value(-2.0) ** 0.5
    with pytest.raises(ValueError, match="real"):
        Dual(-2.0, 1.0) ** 1.5


# ------------------------------------------------------------------ module-level helpers

def test_helpers_on_numbers_and_arrays():
    assert ad.exp(0.5) == pytest.approx(math.exp(0.5), rel=1e-15)
    assert ad.log(2) == pytest.approx(math.log(2), rel=1e-15)
    assert ad.tanh(0.3) == pytest.approx(math.tanh(0.3), rel=1e-15)
    assert ad.sigmoid(0.0) == 0.5
    assert ad.relu(-2) == 0.0 and ad.relu(1.5) == 1.5
    assert isinstance(ad.exp(1), float)
    x = np.array([-1000.0, -2.0, 0.0, 2.0, 1000.0])  # no overflow warnings at the extremes
    np.testing.assert_allclose(ad.sigmoid(x), [0.0, 1 / (1 + math.e**2), 0.5, 1 / (1 + math.e**-2), 1.0],
                               rtol=1e-15, atol=0)
    np.testing.assert_array_equal(ad.relu(x), [0, 0, 0, 2, 1000])
    assert ad.sigmoid(-1000.0) == 0.0 and ad.sigmoid(1000.0) == 1.0
    s = Value(-800.0).sigmoid()
    s.backward()
    assert s.data == pytest.approx(math.exp(-800.0), rel=1e-12) and math.isfinite(s.grad)
    with pytest.raises(ValueError):
        ad.log(np.array([1.0, 0.0]))


def test_helpers_dispatch_on_value_and_dual():
    for fn in (ad.exp, ad.log, ad.tanh, ad.sigmoid, ad.relu):
        assert isinstance(fn(Value(0.5)), Value)
        assert isinstance(fn(Dual(0.5, 1.0)), Dual)
