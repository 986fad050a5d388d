"""gradlab.activations against independent oracles.

* central differences (gradlab.calculus, O(h^2) scheme) for every backward pass;
* the ``autograd`` package differentiating its own, textbook formulas of each activation;
* deck 002's identities (tanh(a) = 2 sigma(2a) - 1, tanh' = 1 - tanh^2, the activation table's
  derivatives and their maxima 1/4 and 1), deck 003's S' = S(1 - S), and exact values.
"""

import warnings

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import elementwise_grad, grad

from gradlab import activations as A
from gradlab.calculus import numerical_gradient_array

# Central differences with h = 1e-5 have truncation error ~ h^2 |f'''| / 6 ~ 1e-11 and rounding
# error ~ eps |f| / h ~ 1e-11 for the O(1) values used here; rtol = 1e-7 leaves a wide margin
# while still failing on any real mistake (a wrong factor, a wrong branch).
H = 1e-5
RTOL_NUM, ATOL_NUM = 1e-7, 1e-9
# autograd evaluates the same mathematics in a different order: agreement to rounding.
RTOL_AG, ATOL_AG = 1e-12, 1e-14

SLOPE, ALPHA = 0.2, 0.5          # non-default hyperparameters, to catch ignored arguments

# name -> (keyword hyperparameters, autograd formula written from deck 002's table)
CASES = {
    "sigmoid": ({}, lambda x: 1.0 / (1.0 + anp.exp(-x))),
    "tanh": ({}, lambda x: (anp.exp(x) - anp.exp(-x)) / (anp.exp(x) + anp.exp(-x))),
    "relu": ({}, lambda x: anp.where(x > 0, x, 0.0 * x)),
    "leaky_relu": ({"slope": SLOPE}, lambda x: anp.where(x > 0, x, SLOPE * x)),
    "elu": ({"alpha": ALPHA}, lambda x: anp.where(x > 0, x, ALPHA * (anp.exp(x) - 1.0))),
    "identity": ({}, lambda x: 1.0 * x),
}
PLAIN = {"sigmoid": A.sigmoid, "tanh": A.tanh, "relu": A.relu, "leaky_relu": A.leaky_relu,
         "elu": A.elu, "identity": A.identity}
PRIME = {"sigmoid": A.sigmoid_prime, "tanh": A.tanh_prime, "relu": A.relu_prime,
         "leaky_relu": A.leaky_relu_prime, "elu": A.elu_prime, "identity": A.identity_prime}
SHAPES = [(7,), (3, 5), (2, 3, 4)]


def sample(shape, seed, scale=2.0):
    """Normal samples kept >= 1e-3 away from 0, where ReLU-type units have a kink."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=scale, size=shape)
    return np.where(np.abs(x) < 1e-3, 0.5, x)


@pytest.mark.parametrize("name", sorted(CASES))
def test_registry_holds_every_pair(name):
    forward, backward = A.ACTIVATIONS[name]
    assert forward is getattr(A, f"{name}_forward")
    assert backward is getattr(A, f"{name}_backward")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_autograd_formula(name, shape, seed):
    hyper, formula = CASES[name]
    x = sample(shape, seed)
    forward, _ = A.ACTIVATIONS[name]
    out, _ = forward(x, **hyper)
    np.testing.assert_allclose(out, formula(x), rtol=RTOL_AG, atol=ATOL_AG)
    np.testing.assert_allclose(PLAIN[name](x, **hyper), formula(x), rtol=RTOL_AG, atol=ATOL_AG)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_matches_central_differences(name, shape, seed):
    hyper, _ = CASES[name]
    forward, backward = A.ACTIVATIONS[name]
    x = sample(shape, seed)
    dout = np.random.default_rng(seed + 100).normal(size=shape)
    _, cache = forward(x, **hyper)
    dx = backward(dout, cache)
    dx_num = numerical_gradient_array(lambda v: forward(v, **hyper)[0], x, dout, h=H)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, dx_num, rtol=RTOL_NUM, atol=ATOL_NUM)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_and_prime_match_autograd(name, shape, seed):
    hyper, formula = CASES[name]
    forward, backward = A.ACTIVATIONS[name]
    x = sample(shape, seed)
    dout = np.random.default_rng(seed + 200).normal(size=shape)
    dout_before = dout.copy()
    _, cache = forward(x, **hyper)
    dx = backward(dout, cache)
    expected = grad(lambda v: anp.sum(formula(v) * dout))(x)      # vector-Jacobian product
    np.testing.assert_allclose(dx, expected, rtol=RTOL_AG, atol=ATOL_AG)
    np.testing.assert_array_equal(dout, dout_before)              # dout left untouched
    np.testing.assert_allclose(PRIME[name](x, **hyper), elementwise_grad(formula)(x),
                               rtol=RTOL_AG, atol=ATOL_AG)


# ---------------------------------------------------------------------------------------------
# the decks' identities
# ---------------------------------------------------------------------------------------------

def test_tanh_is_a_rescaled_sigmoid_deck_002():
    a = np.linspace(-6, 6, 121)
    np.testing.assert_allclose(A.tanh(a), 2 * A.sigmoid(2 * a) - 1, rtol=0, atol=1e-15)


def test_tanh_prime_is_one_minus_tanh_squared_deck_002():
    a = np.linspace(-4, 4, 81)
    np.testing.assert_allclose(A.tanh_prime(a), 1 - np.tanh(a) ** 2, rtol=1e-14, atol=0)
    # and the independent definition via cosh: d tanh / da = 1 / cosh^2
    np.testing.assert_allclose(A.tanh_prime(a), 1 / np.cosh(a) ** 2, rtol=1e-12)


def test_sigmoid_prime_is_s_times_one_minus_s_deck_003():
    z = np.linspace(-8, 8, 161)
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(A.sigmoid_prime(z), s * (1 - s), rtol=1e-12)
    # the same derivative written directly: e^-z / (1 + e^-z)^2
    np.testing.assert_allclose(A.sigmoid_prime(z), np.exp(-z) / (1 + np.exp(-z)) ** 2, rtol=1e-12)


def test_maximum_slopes_from_the_table_deck_002():
    a = np.linspace(-10, 10, 20001)                  # contains 0 exactly
    assert A.sigmoid_prime(a).max() == pytest.approx(0.25, abs=1e-15)
    assert A.sigmoid_prime(0.0) == 0.25
    assert A.tanh_prime(a).max() == pytest.approx(1.0, abs=1e-15)
    assert np.all(A.sigmoid_prime(a) <= 0.25) and np.all(A.tanh_prime(a) <= 1.0)
    assert A.elu_prime(a).max() == 1.0


def test_elu_derivative_is_y_plus_k_on_the_negative_side_deck_002():
    a = -np.linspace(0.01, 5, 50)
    for k in (1.0, 0.3):
        np.testing.assert_allclose(A.elu_prime(a, alpha=k), k * (np.exp(a) - 1) + k, rtol=1e-12)


def test_exact_values():
    assert A.sigmoid(0.0) == 0.5
    assert A.sigmoid(np.log(3.0)) == pytest.approx(0.75, rel=1e-15)    # 1 / (1 + 1/3)
    assert A.tanh(np.log(2.0)) == pytest.approx(0.6, rel=1e-15)        # (2 - 1/2) / (2 + 1/2)
    np.testing.assert_array_equal(A.relu(np.array([-2.0, 0.0, 3.0])), [0.0, 0.0, 3.0])
    assert A.elu(np.log(0.5)) == pytest.approx(-0.5, rel=1e-15)        # 1 * (1/2 - 1)


def test_defaults_name_their_sources():
    # leaky slope 0.01 (Maas et al. 2013), ELU alpha 1 (Clevert et al. 2015)
    assert A.LEAKY_SLOPE == 0.01 and A.ELU_ALPHA == 1.0
    assert A.leaky_relu(-3.0) == pytest.approx(-0.03, rel=1e-15)
    assert A.elu(-50.0) == pytest.approx(-1.0, rel=1e-15)
    out, cache = A.leaky_relu_forward(np.array([-2.0]))
    np.testing.assert_allclose(A.leaky_relu_backward(np.array([1.0]), cache), [0.01])


def test_kinks_take_the_left_derivative_deck_002():
    # deck 002: ReLU' = 0 and leaky ReLU' = k "if a <= 0"
    zero = np.zeros(3)
    np.testing.assert_array_equal(A.relu_prime(zero), 0.0)
    np.testing.assert_array_equal(A.leaky_relu_prime(zero, slope=0.1), 0.1)
    _, cache = A.relu_forward(zero)
    np.testing.assert_array_equal(A.relu_backward(np.ones(3), cache), 0.0)


# ---------------------------------------------------------------------------------------------
# numerical stability
# ---------------------------------------------------------------------------------------------

def test_sigmoid_has_no_overflow_at_plus_minus_1000():
    x = np.array([-1000.0, -745.0, -40.0, 0.0, 40.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            s = A.sigmoid(x)
            out, cache = A.sigmoid_forward(x)
            dx = A.sigmoid_backward(np.ones_like(x), cache)
    assert s[0] == 0.0 and s[-1] == 1.0
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(dx))
    # far in the left tail the value keeps its *relative* accuracy: S(-40) = e^-40 / (1 + e^-40)
    assert s[2] == pytest.approx(np.exp(-40.0) / (1 + np.exp(-40.0)), rel=1e-14)
    assert s[1] > 0                                    # e^-745 is still a (subnormal) float
    np.testing.assert_array_equal(s, out)


def test_elu_has_no_overflow_for_large_inputs():
    x = np.array([-1000.0, -1.0, 1.0, 1000.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out, cache = A.elu_forward(x)
        dx = A.elu_backward(np.ones_like(x), cache)
        prime = A.elu_prime(x)
    np.testing.assert_allclose(out, [-1.0, np.expm1(-1.0), 1.0, 1000.0], rtol=1e-15)
    np.testing.assert_allclose(dx, [0.0, np.exp(-1.0), 1.0, 1.0], rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(prime, dx, rtol=1e-15, atol=1e-300)


def test_tanh_saturates_without_nan():
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out, cache = A.tanh_forward(np.array([-1000.0, 1000.0]))
        dx = A.tanh_backward(np.ones(2), cache)
    np.testing.assert_array_equal(out, [-1.0, 1.0])
    np.testing.assert_array_equal(dx, [0.0, 0.0])        # saturation: the gradient vanishes
