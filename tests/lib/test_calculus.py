"""Tests for gradlab.calculus.

Oracles: derivatives worked out by hand in deck 000 (x^2, (x^2)^2, x^2 + xy + y^2,
dL/dW = X^T dL/dD), closed forms (sin, exp, a quadratic's GD iterates), the `autograd`
package as an independent implementation, and the error orders O(h) / O(h^2) of deck 002.
Tolerances are tied to the schemes: truncation ~ h^k * |f^(k+1)| plus round-off
~ eps_mach * |f| / h (first differences) or eps_mach * |f| / h^2 (second differences).
"""

import zlib

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad as ag_grad
from autograd import hessian as ag_hessian
from autograd import jacobian as ag_jacobian

from gradlab import calculus as C

EPS = np.finfo(np.float64).eps
H1 = 1e-5   # the module's default first-derivative step
H2 = 1e-4   # the module's default Hessian step
SEEDS = [0, 1, 2]


def central_tol(h, f3, fmax):
    """Error bound of the central quotient: truncation h^2/6 |f'''| + round-off, x10 margin."""
    return 10 * (h**2 / 6 * f3 + 2 * EPS * fmax / h)


def forward_tol(h, f2, fmax):
    """Error bound of the forward quotient: truncation h/2 |f''| + round-off, x10 margin."""
    return 10 * (h / 2 * f2 + 2 * EPS * fmax / h)


# --------------------------------------------------------------------------- deck 000 examples

@pytest.mark.parametrize("x", [-3.0, -0.5, 0.0, 1.0, 2.5, 7.0])
def test_derivative_of_square_is_2x(x):
    # d/dx x^2 = 2x (deck 000).  Forward quotient: (x+h)^2 - x^2)/h = 2x + h exactly.
    f = lambda t: t**2
    fwd = C.forward_difference(f, x)
    cen = C.central_difference(f, x)
    assert isinstance(fwd, float) and isinstance(cen, float)
    assert abs(fwd - (2 * x + H1)) <= forward_tol(H1, 0.0, (abs(x) + 1) ** 2)
    assert abs(cen - 2 * x) <= central_tol(H1, 0.0, (abs(x) + 1) ** 2)


@pytest.mark.parametrize("x", [-2.0, -0.3, 0.7, 1.5, 3.0])
def test_chain_rule_x4(x):
    # h(x) = (x^2)^2, dh/dx = 2 x^2 * 2x = 4 x^3 (deck 000); h''' = 24 x.
    f = lambda t: (t**2) ** 2
    cen = C.central_difference(f, x)
    fmax = (abs(x) + 1) ** 4
    assert abs(cen - 4 * x**3) <= central_tol(H1, 24 * (abs(x) + 1), fmax)
    fwd = C.forward_difference(f, x)
    assert abs(fwd - 4 * x**3) <= forward_tol(H1, 12 * (abs(x) + 1) ** 2, fmax)


def test_difference_quotients_elementwise_on_arrays():
    x = np.linspace(-2, 2, 12).reshape(3, 4)
    cen = C.central_difference(np.sin, x)
    fwd = C.forward_difference(np.sin, x)
    assert cen.shape == x.shape and cen.dtype == np.float64
    np.testing.assert_allclose(cen, np.cos(x), rtol=0, atol=central_tol(H1, 1, 1))
    np.testing.assert_allclose(fwd, np.cos(x), rtol=0, atol=forward_tol(H1, 1, 1))


def test_difference_quotients_accept_ints():
    # An int point must not truncate x + h back to x.
    assert abs(C.central_difference(lambda t: t**3, 2) - 12.0) < central_tol(H1, 6, 30)
    out = C.forward_difference(lambda t: t**2, np.array([1, 2, 3]))
    np.testing.assert_allclose(out, [2, 4, 6], atol=forward_tol(H1, 2, 20))


@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_of_x2_xy_y2(seed):
    # deck 000: f = x^2 + xy + y^2, grad f = (2x + y, x + 2y); f is quadratic, so the
    # central difference is exact up to round-off.
    rng = np.random.default_rng(seed)
    f = lambda v: v[0] ** 2 + v[0] * v[1] + v[1] ** 2
    for _ in range(5):
        x, y = rng.uniform(-5, 5, size=2)
        g = C.numerical_gradient(f, np.array([x, y]))
        np.testing.assert_allclose(g, [2 * x + y, x + 2 * y], rtol=0,
                                   atol=central_tol(H1, 0, 100))


@pytest.mark.parametrize("seed", SEEDS)
def test_hessian_of_x2_xy_y2(seed):
    # deck 000 / 003: the Hessian of x^2 + xy + y^2 is constant [[2, 1], [1, 2]].
    rng = np.random.default_rng(seed)
    f = lambda v: v[0] ** 2 + v[0] * v[1] + v[1] ** 2
    x = rng.uniform(-3, 3, size=2)
    H = C.hessian(f, x)
    fmax = 3 * (np.abs(x).max() + 1) ** 2
    np.testing.assert_allclose(H, [[2, 1], [1, 2]], rtol=0, atol=10 * 4 * EPS * fmax / H2**2)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n, m, h", [(3, 4, 2), (5, 2, 3), (1, 1, 1)])
def test_dL_dW_is_Xt_dL_dD(seed, n, m, h):
    # deck 000: D = X W with X (n, m), W (m, h); for L = f(D), dL/dW = X^T dL/dD.
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m))
    W = rng.standard_normal((m, h))
    dD = rng.standard_normal((n, h))
    dW = C.numerical_gradient_array(lambda w: X @ w, W, dD)
    assert dW.shape == W.shape
    # D is linear in W: no truncation error, round-off only.
    np.testing.assert_allclose(dW, X.T @ dD, rtol=0, atol=1e-8)


# ----------------------------------------------------------------- against autograd

SCALAR_FUNCS = {
    "sum_tanh_sq": lambda x: anp.sum(anp.tanh(x) ** 2),
    "softplus": lambda x: anp.sum(anp.log(1.0 + anp.exp(x))),
    "sin_prod": lambda x: anp.sin(anp.sum(x * anp.cos(x))),
    "quartic": lambda x: anp.sum(x**4) - anp.sum(x) ** 2,
}


@pytest.mark.parametrize("name", sorted(SCALAR_FUNCS))
@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4), (2, 3, 2)])
def test_numerical_gradient_vs_autograd(name, shape):
    f = SCALAR_FUNCS[name]
    rng = np.random.default_rng(zlib.crc32(f"{name}{shape}".encode()))
    x = rng.uniform(-1, 1, size=shape)
    x0 = x.copy()
    g = C.numerical_gradient(f, x)
    assert g.shape == x.shape and g.dtype == np.float64
    np.testing.assert_array_equal(x, x0)  # x not mutated
    # On [-1, 1] these functions and their third derivatives are O(10..100) at most.
    np.testing.assert_allclose(g, ag_grad(f)(x), rtol=1e-6, atol=central_tol(H1, 100, 100))


def test_numerical_gradient_int_input_and_no_mutation():
    x = np.array([1, -2, 3])
    seen = []
    g = C.numerical_gradient(lambda v: (seen.append(v.dtype), float(np.sum(v**3)))[1], x)
    assert all(d == np.float64 for d in seen)
    np.testing.assert_array_equal(x, [1, -2, 3])
    assert x.dtype.kind == "i"
    np.testing.assert_allclose(g, 3 * np.array([1, 4, 9]), atol=central_tol(H1, 6, 40))


def test_numerical_gradient_rejects_vector_output():
    with pytest.raises(ValueError, match="scalar"):
        C.numerical_gradient(lambda v: v * 2, np.ones(3))


VECTOR_FUNCS = [
    # (f, n): f maps R^n to R^m with m != n
    (lambda x: anp.array([x[0] * x[1], anp.sin(x[2]), x[0] ** 2 + x[2]]), 3),   # 3 -> 3
    (lambda x: anp.array([anp.exp(x[0]) * x[1], anp.tanh(x[0] - x[1])]), 2),   # 2 -> 2
    (lambda x: anp.stack([anp.sum(x**2), anp.prod(x)]), 4),                   # 4 -> 2
    (lambda x: anp.concatenate([anp.sin(x), x**2, anp.cos(x[:1])]), 2),       # 2 -> 5
]


@pytest.mark.parametrize("k", range(len(VECTOR_FUNCS)))
@pytest.mark.parametrize("seed", SEEDS)
def test_jacobian_vs_autograd(k, seed):
    f, n = VECTOR_FUNCS[k]
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=n)
    x0 = x.copy()
    J = C.jacobian(f, x)
    m = np.asarray(f(x)).size
    assert J.shape == (m, n)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_allclose(J, ag_jacobian(f)(x), rtol=1e-6, atol=central_tol(H1, 20, 20))


def test_jacobian_of_linear_map_is_its_matrix_and_orientation():
    # f(x) = A x with A (m, n), m != n: J = A (rows = outputs, columns = inputs).
    rng = np.random.default_rng(7)
    A = rng.standard_normal((2, 5))
    J = C.jacobian(lambda x: A @ x, rng.standard_normal(5))
    assert J.shape == (2, 5)
    np.testing.assert_allclose(J, A, rtol=0, atol=1e-9)


def test_jacobian_scalar_output_is_one_row():
    x = np.array([0.3, -0.2, 0.5])
    f = lambda v: anp.sum(anp.sin(v))
    J = C.jacobian(f, x)
    assert J.shape == (1, 3)
    np.testing.assert_allclose(J[0], np.cos(x), atol=central_tol(H1, 1, 3))


HESS_FUNCS = [
    (lambda x: anp.sum(anp.sin(x) * x[::-1]), 3),
    (lambda x: anp.log(1 + anp.sum(x**2)) + x[0] * x[1] ** 3, 2),
    (lambda x: anp.exp(0.5 * x[0]) * anp.cos(x[1]) + anp.sum(x**4), 4),
    (lambda x: x[0] ** 3, 1),
]


@pytest.mark.parametrize("k", range(len(HESS_FUNCS)))
@pytest.mark.parametrize("seed", SEEDS)
def test_hessian_vs_autograd(k, seed):
    f, n = HESS_FUNCS[k]
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=n)
    x0 = x.copy()
    H = C.hessian(f, x)
    assert H.shape == (n, n)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(H, H.T)  # documented: mirrored, exactly symmetric
    # truncation ~ h^2 |f''''| / 12, round-off ~ eps |f| / h^2 (f, f'''' = O(10) on [-1, 1])
    atol = 10 * (H2**2 * 30 + 4 * EPS * 10 / H2**2)
    np.testing.assert_allclose(H, ag_hessian(f)(x), rtol=0, atol=atol)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("in_shape, W_shape", [((4,), (4, 3)), ((2, 3), (3, 5)), ((1, 1), (1, 1))])
def test_numerical_gradient_array_vs_autograd_vjp(seed, in_shape, W_shape):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal(W_shape)
    f = lambda x: anp.tanh(anp.dot(x, W)) * anp.exp(-0.1 * anp.dot(x, W))
    x = rng.standard_normal(in_shape)
    x0 = x.copy()
    dout = rng.standard_normal(np.shape(f(x)))
    dx = C.numerical_gradient_array(f, x, dout)
    vjp = ag_grad(lambda v: anp.sum(f(v) * dout))(x)  # autograd's vector-Jacobian product
    assert dx.shape == x.shape
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_allclose(dx, vjp, rtol=1e-6, atol=central_tol(H1, 100, 100))


def test_numerical_gradient_array_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match="dout"):
        C.numerical_gradient_array(lambda x: x, np.ones((2, 3)), np.ones((3, 2)))


# ----------------------------------------------------------------- error orders (deck 002)

SMOOTH = [
    (np.sin, np.cos, 1.0),
    (np.exp, np.exp, 0.5),
    (lambda t: 1 / (1 + np.exp(-t)), lambda t: np.exp(-t) / (1 + np.exp(-t)) ** 2, -0.7),
]


def _fitted_slope(method, f, df, x0):
    hs = np.logspace(-1, -4, 13)
    errors = [abs(method(f, x0, h) - df(x0)) for h in hs]
    slope, _ = np.polyfit(np.log(hs), np.log(errors), 1)
    return slope


@pytest.mark.parametrize("f, df, x0", SMOOTH)
def test_central_difference_error_is_order_h2(f, df, x0):
    assert abs(_fitted_slope(C.central_difference, f, df, x0) - 2) < 0.3


@pytest.mark.parametrize("f, df, x0", SMOOTH)
def test_forward_difference_error_is_order_h(f, df, x0):
    assert abs(_fitted_slope(C.forward_difference, f, df, x0) - 1) < 0.3


# ----------------------------------------------------------------- relative error, gradient check

def test_relative_error_hand_computed():
    # entries: |1-1|/2 = 0, |2-3|/5 = 0.2, |-1-1|/2 = 1  -> max 1
    assert C.relative_error([1.0, 2.0], [1.0, 3.0]) == pytest.approx(0.2, abs=1e-15)
    assert C.relative_error([1.0, 2.0, -1.0], [1.0, 3.0, 1.0]) == pytest.approx(1.0, abs=1e-15)
    assert C.relative_error(4.0, 2.0) == pytest.approx(2 / 6, abs=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_relative_error_properties(seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal((3, 4))
    err = C.relative_error(a, b)
    assert isinstance(err, float)
    assert C.relative_error(a, a) == 0.0                       # identity
    assert err == C.relative_error(b, a)                       # symmetry
    assert 0.0 <= err <= 1.0                                   # |a-b| <= |a|+|b|
    assert C.relative_error(1e6 * a, 1e6 * b) == pytest.approx(err, rel=1e-12)  # scale-free
    assert C.relative_error(a, -a) == pytest.approx(1.0)       # opposite signs
    assert C.relative_error(np.zeros(3), np.zeros(3)) == 0.0   # 1e-8 floor, no 0/0
    assert C.relative_error(0.0, 1e-12) == pytest.approx(1e-12 / 1e-8)  # floor in action


def test_relative_error_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        C.relative_error(np.ones((3, 4)), np.ones((4, 3)))


def test_relative_error_nan_propagates():
    assert np.isnan(C.relative_error([1.0, np.nan], [1.0, 2.0]))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(4,), (3, 2)])
def test_gradient_check_passes_correct_and_flags_wrong(seed, shape):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((int(np.prod(shape)),) * 2)
    f = lambda x: float(np.sum(np.sin(x)) + x.ravel() @ A @ x.ravel())
    x = rng.standard_normal(shape)
    x0 = x.copy()
    g = (np.cos(x.ravel()) + (A + A.T) @ x.ravel()).reshape(shape)  # by hand
    assert C.gradient_check(f, x, g) < 1e-7
    np.testing.assert_array_equal(x, x0)
    # 2x too large: |2g - g| / (|2g| + |g|) = 1/3 on every entry
    assert C.gradient_check(f, x, 2 * g) == pytest.approx(1 / 3, rel=1e-5)
    # flipped sign: relative error 1
    assert C.gradient_check(f, x, -g) == pytest.approx(1.0, rel=1e-6)


# ----------------------------------------------------------------- gradient descent (deck 000)

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n, steps, lr", [(1, 0, 0.1), (2, 5, 0.1), (3, 40, 0.05)])
def test_gradient_descent_matches_closed_form_on_quadratic(seed, n, steps, lr):
    # L = 1/2 theta^T A theta with A diagonal: theta_t = (1 - eta a_i)^t theta_0, per coordinate.
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 4.0, size=n)
    theta0 = rng.standard_normal(n)
    keep = theta0.copy()
    traj = C.gradient_descent(lambda th: a * th, theta0, lr, steps)
    assert traj.shape == (steps + 1, n) and traj.dtype == np.float64
    t = np.arange(steps + 1)[:, None]
    np.testing.assert_allclose(traj, (1 - lr * a) ** t * theta0, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(theta0, keep)


def test_gradient_descent_nondiagonal_quadratic_and_int_start():
    # theta_{t} = (I - eta A)^t theta_0 for L = 1/2 theta^T A theta (A symmetric).
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    lr, steps = 0.1, 7
    traj = C.gradient_descent(lambda th: A @ th, np.array([1, -2]), lr, steps)
    M = np.eye(2) - lr * A
    expected = np.array([np.linalg.matrix_power(M, t) @ np.array([1.0, -2.0]) for t in range(steps + 1)])
    np.testing.assert_allclose(traj, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("lr", [1e-2, 1e-3, 1e-4])
def test_one_gd_step_lowers_loss_by_eta_grad_squared(lr):
    # deck 000: Delta L ~ -eta ||grad L||^2, with an O(eta^2) remainder.
    L = lambda th: np.sum(np.sin(th)) + 0.5 * np.sum(th**2)
    dL = lambda th: np.cos(th) + th
    theta0 = np.array([0.4, -1.2, 2.0])
    traj = C.gradient_descent(dL, theta0, lr, 1)
    g2 = np.sum(dL(theta0) ** 2)
    dLoss = L(traj[1]) - L(theta0)
    assert dLoss < 0
    # remainder = eta^2/2 g^T H g with |H| <= 2 here
    assert abs(dLoss - (-lr * g2)) <= lr**2 * g2 * 1.0 + 1e-15


def test_gradient_descent_scalar_start_and_bad_gradient_shape():
    traj = C.gradient_descent(lambda th: 2 * th, 1.0, 0.25, 3)  # L = theta^2
    np.testing.assert_allclose(traj[:, 0], 0.5 ** np.arange(4))
    with pytest.raises(ValueError, match="shape"):
        C.gradient_descent(lambda th: np.ones(3), np.zeros(2), 0.1, 1)
    with pytest.raises(ValueError):
        C.gradient_descent(lambda th: th, np.zeros(2), 0.1, -1)


def test_gradient_descent_divergence_is_optim_minimize_s():
    # one gradient descent: eta = 1.5 on L = theta^2 gives theta_t = (-2)^t, overflowing after
    # ~1024 steps; the rows from there on are NaN, without warnings, exactly as optim.minimize
    import warnings

    from gradlab import optim
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traj = C.gradient_descent(lambda th: 2 * th, np.array([1.0]), 1.5, 1100)
    np.testing.assert_allclose(traj[:11, 0], (-2.0) ** np.arange(11))
    assert np.isfinite(traj[1000, 0]) and np.all(np.isnan(traj[1030:, 0]))
    np.testing.assert_array_equal(traj, optim.minimize(lambda th: 2 * th, [1.0], "sgd", 1100, lr=1.5))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numerical_gradients_of_a_whole_model_match_autograd(seed):
    """Every parameter of a two-layer tanh network with an L2 term, against autograd."""
    import autograd.numpy as anp
    from autograd import grad

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(5, 3))
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4),
              "W2": rng.normal(size=(4, 2)), "b2": rng.normal(size=(2,))}
    before = {k: v.copy() for k, v in params.items()}

    def f(P):
        out = anp.tanh(X @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]
        return anp.sum(out ** 2) / 2 + 0.1 * (anp.sum(P["W1"] ** 2) + anp.sum(P["W2"] ** 2))

    got = C.numerical_gradients(f, params)
    want = grad(f)(params)
    assert set(got) == set(params)
    for k in params:
        assert got[k].shape == params[k].shape
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-8)
        np.testing.assert_array_equal(params[k], before[k])
