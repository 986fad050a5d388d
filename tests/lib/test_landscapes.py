"""Tests for gradlab.landscapes.

Oracles: central-difference gradients (error O(h²), so h = 1e-5 gives ~1e-9 relative accuracy),
the `autograd` package applied to the formulas re-written here, the known minimisers
(Rosenbrock's (a, a²), the normal equations of least squares via numpy.linalg.lstsq, the
saddle's stationary points found by hand) and pointwise evaluation for the vectorised paths.
"""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad as agrad
from autograd import hessian as ahessian

from gradlab import landscapes
from gradlab.landscapes import LANDSCAPES, Landscape, quadratic, regression, rosenbrock, saddle

H = 1e-5


def _central_grad(f, theta):
    g = np.zeros(2)
    for i in range(2):
        e = np.zeros(2)
        e[i] = H
        g[i] = (f(theta + e) - f(theta - e)) / (2 * H)
    return g


def _all():
    return [
        quadratic(),
        quadratic((0.5, 30.0), angle=0.7, center=(1.0, -2.0)),
        rosenbrock(),
        rosenbrock(a=2.0, b=10.0),
        saddle(),
        regression(),
        regression(n=20, noise=1.0, seed=3, w=-1.0, b=0.5),
    ]


CASES = _all()
IDS = ["quad", "quad_rot", "rosen", "rosen_a2", "saddle", "regr", "regr2"]


# ---- autograd re-implementations of each formula (written from the docstrings) ------------

def _anp_formula(ls):
    if ls.name == "quadratic":
        A, c = ls.info["A"], ls.minimum
        return lambda t: 0.5 * anp.dot(t - c, anp.dot(A, t - c))
    if ls.name == "rosenbrock":
        a, b = ls.info["a"], ls.info["b"]
        return lambda t: (a - t[0]) ** 2 + b * (t[1] - t[0] ** 2) ** 2
    if ls.name == "saddle":
        return lambda t: t[0] ** 2 + t[1] ** 4 / 4 - t[1] ** 2 / 2
    if ls.name == "regression":
        x, y = ls.info["x"], ls.info["y"]
        return lambda t: anp.mean((t[0] * x + t[1] - y) ** 2)
    raise AssertionError(ls.name)


@pytest.mark.parametrize("ls", CASES, ids=IDS)
def test_f_matches_formula(ls):
    rng = np.random.default_rng(0)
    f_ref = _anp_formula(ls)
    for theta in rng.uniform(-2, 2, (10, 2)):
        assert ls.f(theta) == pytest.approx(f_ref(theta), rel=1e-13, abs=1e-13)


@pytest.mark.parametrize("ls", CASES, ids=IDS)
def test_grad_matches_central_difference(ls):
    rng = np.random.default_rng(1)
    lo = np.array([ls.xlim[0], ls.ylim[0]])
    hi = np.array([ls.xlim[1], ls.ylim[1]])
    for theta in rng.uniform(lo, hi, (10, 2)):
        num = _central_grad(ls.f, theta)
        scale = max(1.0, abs(ls.f(theta)))
        np.testing.assert_allclose(ls.grad(theta), num, rtol=1e-7, atol=1e-7 * scale)


@pytest.mark.parametrize("ls", CASES, ids=IDS)
def test_grad_matches_autograd(ls):
    rng = np.random.default_rng(2)
    g_ref = agrad(_anp_formula(ls))
    for theta in rng.uniform(-3, 3, (10, 2)):
        np.testing.assert_allclose(ls.grad(theta), g_ref(theta), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("ls", CASES, ids=IDS)
def test_known_minimum(ls):
    m = ls.minimum
    assert m.shape == (2,)
    np.testing.assert_allclose(ls.grad(m), 0.0, atol=1e-10)
    assert ls.f(m) == pytest.approx(ls.f_min, abs=1e-12)
    # a minimum: positive-definite Hessian (autograd) and no lower point nearby
    Hm = ahessian(_anp_formula(ls))(m)
    assert np.all(np.linalg.eigvalsh(Hm) > 0)
    rng = np.random.default_rng(3)
    pts = m + 0.05 * rng.standard_normal((200, 2))
    assert np.all(ls.f(pts) >= ls.f_min - 1e-12)


@pytest.mark.parametrize("ls", CASES, ids=IDS)
def test_vectorised_over_grids_equals_pointwise(ls):
    rng = np.random.default_rng(4)
    for shape in [(7, 2), (3, 4, 2), (2, 3, 2, 2)]:
        T = rng.uniform(-2, 2, shape)
        F, G = ls.f(T), ls.grad(T)
        assert F.shape == shape[:-1] and G.shape == shape
        flat = T.reshape(-1, 2)
        np.testing.assert_allclose(F.ravel(), [ls.f(t) for t in flat], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(G.reshape(-1, 2), [ls.grad(t) for t in flat],
                                   rtol=1e-13, atol=1e-12)
    # a single point gives a scalar
    assert np.ndim(ls.f(np.array([0.3, -0.2]))) == 0


@pytest.mark.parametrize("ls", CASES, ids=IDS)
def test_grid_window_and_start(ls):
    T1, T2, L = ls.grid(30)
    assert T1.shape == T2.shape == L.shape == (30, 30)
    assert T1[0, 0] == ls.xlim[0] and T1[0, -1] == ls.xlim[1]
    assert T2[0, 0] == ls.ylim[0] and T2[-1, 0] == ls.ylim[1]
    np.testing.assert_allclose(L[5, 7], ls.f(np.array([T1[5, 7], T2[5, 7]])), rtol=1e-14)
    for p in (ls.minimum, ls.start):                      # both visible in the window
        assert ls.xlim[0] < p[0] < ls.xlim[1] and ls.ylim[0] < p[1] < ls.ylim[1]
    assert ls.f(ls.start) > ls.f_min
    assert np.all(np.isfinite(L)) and L.min() >= ls.f_min - 1e-12


def test_bad_points_rejected():
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        rosenbrock().f(np.zeros(3))


# ---- surface-specific facts -----------------------------------------------------------------

@pytest.mark.parametrize("lam, angle", [((1.0, 10.0), 0.0), ((0.5, 30.0), 0.7), ((4.0, 2.0), -1.0)])
def test_quadratic_condition_number_and_lipschitz(lam, angle):
    q = quadratic(lam, angle=angle)
    A = q.info["A"]
    np.testing.assert_allclose(A, A.T, atol=1e-15)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(A)), np.sort(lam), rtol=1e-12)
    assert q.info["condition_number"] == pytest.approx(max(lam) / min(lam))
    assert q.info["lipschitz"] == pytest.approx(max(lam))
    # the gradient's Lipschitz constant is λ_max: ‖∇L(a) − ∇L(b)‖ ≤ λ_max ‖a − b‖, tight along
    # the top eigenvector
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 100, 2))
    ratio = np.linalg.norm(q.grad(a) - q.grad(b), axis=1) / np.linalg.norm(a - b, axis=1)
    assert ratio.max() <= max(lam) * (1 + 1e-12)
    top = np.linalg.eigh(A)[1][:, -1]
    assert np.linalg.norm(q.grad(top) - q.grad(0 * top)) == pytest.approx(max(lam))


def test_quadratic_default_is_ill_conditioned():
    assert quadratic().info["condition_number"] == 10.0
    with pytest.raises(ValueError):
        quadratic((1.0, -1.0))


def test_rosenbrock_published_values():
    r = rosenbrock()
    np.testing.assert_array_equal(r.minimum, [1.0, 1.0])
    # Rosenbrock's start (−1.2, 1): L = 2.2² + 100·(1 − 1.44)² = 4.84 + 19.36 = 24.2
    assert r.f(r.start) == pytest.approx(24.2, rel=1e-14)
    # ∇L(−1.2, 1) = (−2·2.2 − 400·(−1.2)(−0.44), 200·(−0.44)) = (−215.6, −88)
    np.testing.assert_allclose(r.grad(r.start), [-215.6, -88.0], rtol=1e-13)


def test_saddle_point_and_minima():
    s = saddle()
    sp = s.info["saddle_point"]
    np.testing.assert_allclose(s.grad(sp), 0.0, atol=0)
    Hs = ahessian(_anp_formula(s))(sp)
    np.testing.assert_allclose(Hs, s.info["hessian_at_saddle"], atol=1e-14)
    ev = np.linalg.eigvalsh(Hs)
    assert ev.min() < 0 < ev.max()                       # a saddle, not an extremum
    for m in s.info["minima"]:
        np.testing.assert_allclose(s.grad(m), 0.0, atol=0)
        assert s.f(m) == pytest.approx(-0.25)            # 1/4 − 1/2


def test_regression_minimum_is_least_squares():
    r = regression(n=40, noise=0.5, seed=7, w=1.5, b=0.2)
    x, y = r.info["x"], r.info["y"]
    assert x.shape == y.shape == (40,)
    coef, *_ = np.linalg.lstsq(np.column_stack([x, np.ones_like(x)]), y, rcond=None)
    np.testing.assert_allclose(r.minimum, coef, rtol=1e-10)
    assert r.f_min == pytest.approx(np.mean((coef[0] * x + coef[1] - y) ** 2), rel=1e-12)
    # with moderate noise and 40 points the fit is near the true line
    np.testing.assert_allclose(r.minimum, r.info["true_params"], atol=0.5)
    # the Hessian of the MSE is (2/n) XᵀX, constant: compare with autograd at a random point
    Ha = ahessian(_anp_formula(r))(np.array([0.3, -0.7]))
    np.testing.assert_allclose(r.info["H"], Ha, rtol=1e-12)
    ev = np.linalg.eigvalsh(Ha)
    assert r.info["condition_number"] == pytest.approx(ev.max() / ev.min(), rel=1e-10)


def test_regression_is_seeded():
    a, b, c = regression(seed=1), regression(seed=1), regression(seed=2)
    np.testing.assert_array_equal(a.info["y"], b.info["y"])
    assert not np.array_equal(a.info["y"], c.info["y"])


def test_registry_and_types():
    assert set(LANDSCAPES) == {"quadratic", "rosenbrock", "saddle", "regression"}
    for name, factory in LANDSCAPES.items():
        ls = factory()
        assert isinstance(ls, Landscape) and ls.name == name


def test_module_header_names_decks():
    assert "deck 000" in landscapes.__doc__ and "deck 001" in landscapes.__doc__
