"""Tests for gradlab.init.

Oracles: the target distributions' moments (deck 001: N(0, 1/m), N(0, 2/m),
U(±√(6/(m+n)))) checked with sample statistics to within 5 standard errors of the estimator,
the support of the uniform, and seeded reproducibility.
"""

import numpy as np
import pytest

from gradlab import init
from gradlab.init import (
    INITIALIZERS, as_rng, constant, glorot_uniform, he, normal, relu_bias, xavier, zeros,
)

SHAPES = [(1, 1), (3, 7), (64, 10), (10, 64)]
Z = 5.0   # tolerance in standard errors


def _check_moments(W, var):
    """Mean within 5 SE of 0 and variance within 5 SE of ``var``, for a Gaussian sample."""
    N = W.size
    assert abs(W.mean()) < Z * np.sqrt(var / N)
    # SE of the sample variance of a Gaussian: σ² √(2/(N−1))
    assert abs(W.var(ddof=1) - var) < Z * var * np.sqrt(2.0 / (N - 1))


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
@pytest.mark.parametrize("m, n", SHAPES)
def test_shape_and_dtype(name, m, n):
    W = INITIALIZERS[name](m, n, rng=0)
    assert W.shape == (m, n)
    assert W.dtype == np.float64
    assert np.all(np.isfinite(W))


@pytest.mark.parametrize("m, n", [(50, 400), (400, 50), (1000, 30)])
def test_xavier_variance_is_one_over_fan_in(m, n):
    _check_moments(xavier(m, n, rng=1), 1.0 / m)


@pytest.mark.parametrize("m, n", [(50, 400), (400, 50), (1000, 30)])
def test_he_variance_is_two_over_fan_in(m, n):
    _check_moments(he(m, n, rng=2), 2.0 / m)


@pytest.mark.parametrize("std", [0.01, 0.5, 3.0])
def test_normal_variance(std):
    _check_moments(normal(100, 200, std=std, rng=3), std ** 2)


def test_normal_default_std():
    _check_moments(normal(200, 200, rng=4), 0.01 ** 2)


@pytest.mark.parametrize("m, n", [(50, 400), (400, 50), (784, 100)])
def test_glorot_uniform_bounds_and_moments(m, n):
    W = glorot_uniform(m, n, rng=5)
    a = np.sqrt(6.0 / (m + n))
    N = W.size
    assert np.all(np.abs(W) <= a)
    # the whole interval is used: P(all N draws inside ±a(1 − 1e-3)) = (1 − 1e-3)^N ≤ e^{-20}
    assert W.max() > a * (1 - 1e-3) and W.min() < -a * (1 - 1e-3)
    var = a ** 2 / 3.0                     # = 2/(m+n), Glorot & Bengio's compromise
    np.testing.assert_allclose(var, 2.0 / (m + n), rtol=1e-14)
    assert abs(W.mean()) < Z * np.sqrt(var / N)
    # SE of the sample variance: √((μ₄ − σ⁴ (N−3)/(N−1)) / N), μ₄ = a⁴/5 for U(−a, a)
    se = np.sqrt((a ** 4 / 5.0 - var ** 2 * (N - 3) / (N - 1)) / N)
    assert abs(W.var(ddof=1) - var) < Z * se
    # uniform: the fraction in [−a/2, a/2] is ½ (binomial SE √(¼/N))
    assert abs(np.mean(np.abs(W) <= a / 2) - 0.5) < Z * np.sqrt(0.25 / N)


@pytest.mark.parametrize("fn, var_of_m", [(xavier, lambda m: 1.0 / m), (he, lambda m: 2.0 / m)])
def test_gaussian_shape_of_distribution(fn, var_of_m):
    # fraction within one standard deviation is Φ(1) − Φ(−1) = 0.682689…
    m, n = 100, 300
    W = fn(m, n, rng=6)
    frac = np.mean(np.abs(W) <= np.sqrt(var_of_m(m)))
    p = 0.6826894921370859
    assert abs(frac - p) < Z * np.sqrt(p * (1 - p) / W.size)


def test_fan_in_not_fan_out_sets_the_scale():
    # Var depends on m only: (m, n) and (m, n') agree, (n, m) does not.
    wide = xavier(20, 2000, rng=7)
    tall = xavier(2000, 20, rng=7)
    assert abs(wide.var() - 1 / 20) < 0.005
    assert abs(tall.var() - 1 / 2000) < 0.0001


def test_xavier_keeps_unit_variance_through_a_linear_layer():
    # Deck 001's rationale: inputs with unit variance → outputs Σᵢ xᵢWᵢⱼ with variance m·(1/m) = 1.
    rng = np.random.default_rng(8)
    m, n, N = 256, 256, 2000
    x = rng.standard_normal((N, m))
    out = x @ xavier(m, n, rng=rng)
    assert 0.9 < out.var() < 1.1
    out = np.maximum(0, x) @ he(m, n, rng=rng)       # ReLU keeps E[x²] = ½ → 2/m restores 1
    assert 0.9 < np.mean(out ** 2) < 1.1


@pytest.mark.parametrize("name", ["normal", "xavier", "he", "glorot_uniform"])
def test_seeded_reproducibility(name):
    f = INITIALIZERS[name]
    a, b, c = f(5, 4, rng=123), f(5, 4, rng=123), f(5, 4, rng=124)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_array_equal(f(5, 4, rng=g1), f(5, 4, rng=g2))
    # a Generator is used, not copied: the next draw differs
    assert not np.array_equal(f(5, 4, rng=g1), f(5, 4, rng=np.random.default_rng(9)))
    # symmetry is broken: no two units (columns) start equal
    W = f(8, 6, rng=0)
    assert len({tuple(col) for col in W.T}) == 6


def test_zeros_and_bias_constants():
    np.testing.assert_array_equal(zeros(3, 2), np.zeros((3, 2)))
    b = relu_bias(5)
    assert b.shape == (5,) and b.dtype == np.float64
    np.testing.assert_array_equal(b, np.full(5, 0.1))         # deck 001: 0.1 for ReLU
    np.testing.assert_array_equal(constant(3), np.zeros(3))
    np.testing.assert_array_equal(constant(2, -1.5), [-1.5, -1.5])


def test_bad_arguments():
    with pytest.raises(ValueError):
        xavier(0, 3)
    with pytest.raises(ValueError):
        he(3, 2.5)
    with pytest.raises(ValueError):
        constant(0)
    with pytest.raises(TypeError):
        glorot_uniform(3, 3, rng="seed")
    assert isinstance(as_rng(None), np.random.Generator)


def test_module_header_names_deck():
    assert "deck 001" in init.__doc__ and "fan-in" in init.__doc__


def test_lecun_normal_is_deck_001s_xavier_not_the_libraries_xavier():
    """Deck 001's "Xavier" N(0, 1/m) is LeCun's (1998); the libraries' Xavier is Glorot's 2/(m+n)."""
    assert init.lecun_normal is xavier and INITIALIZERS["lecun_normal"] is xavier
    m, n = 400, 50
    W = init.lecun_normal(m, n, rng=2)
    _check_moments(W, 1.0 / m)
    # 2/(m+n) = 1/225 is far outside 5 standard errors of the sample variance around 1/400
    assert abs(W.var(ddof=1) - 2.0 / (m + n)) > Z * (1.0 / m) * np.sqrt(2.0 / (W.size - 1))
