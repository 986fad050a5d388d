"""gradlab.losses against independent oracles.

* central differences (gradlab.calculus, O(h^2)) and ``autograd`` for every dscores;
* closed forms: deck 002's delta = y - t, deck 003's 1/N sum_n sum_k (o - d)^2, log K for
  uniform scores, deck 001's worked logistic example (X = 3, y = 1, W = 3:
  |dL/dW| = 0.00037018372);
* scikit-learn's ``mean_squared_error`` and ``log_loss`` as published implementations;
* the stability promises: softmax invariant to a constant shift, no overflow at 1e4.
"""

import warnings

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from sklearn.metrics import log_loss, mean_squared_error

from gradlab import losses
from gradlab.calculus import numerical_gradient

H = 1e-5
RTOL_NUM, ATOL_NUM = 1e-6, 1e-9          # central differences: error ~ h^2 + eps/h ~ 1e-10
RTOL_AG, ATOL_AG = 1e-11, 1e-13          # autograd: same mathematics, other evaluation order
SHAPES = [(1, 2), (5, 3), (12, 7)]       # (N, K)
STRICT = dict(over="raise", divide="raise", invalid="raise")


def data(N, K, seed, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=scale, size=(N, K)), rng.integers(0, K, size=N), rng


# ---------------------------------------------------------------------------------------------
# softmax and log-softmax
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("N,K", SHAPES)
def test_softmax_matches_the_definition(N, K, seed):
    x, _, _ = data(N, K, seed)
    naive = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    p = losses.softmax(x)
    np.testing.assert_allclose(p, naive, rtol=1e-13)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(losses.log_softmax(x), np.log(naive), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("c", [-1e3, -7.5, 0.0, 42.0, 1e4])
def test_softmax_is_invariant_to_adding_a_constant(c):
    x, _, _ = data(6, 4, 3)
    np.testing.assert_allclose(losses.softmax(x + c), losses.softmax(x), rtol=1e-10, atol=1e-16)
    np.testing.assert_allclose(losses.log_softmax(x + c), losses.log_softmax(x),
                               rtol=1e-9, atol=1e-9)


def test_softmax_axis():
    x, _, _ = data(4, 5, 4)
    np.testing.assert_allclose(losses.softmax(x, axis=0), losses.softmax(x.T).T, rtol=1e-15)
    np.testing.assert_allclose(losses.log_softmax(x, axis=0), losses.log_softmax(x.T).T, rtol=1e-15)


def test_softmax_does_not_overflow_at_1e4():
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]])
    with warnings.catch_warnings(), np.errstate(**STRICT):
        warnings.simplefilter("error")
        p = losses.softmax(x)
        logp = losses.log_softmax(x)
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-15, atol=0)
    # log-softmax keeps the exact value where the probability underflows to 0
    np.testing.assert_allclose(logp, [[0, -1e4, -2e4], [-np.log(3)] * 3], rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# softmax cross-entropy
# ---------------------------------------------------------------------------------------------

def anp_softmax_ce(scores, labels):
    N = scores.shape[0]
    p = anp.exp(scores) / anp.sum(anp.exp(scores), axis=1, keepdims=True)
    return -anp.sum(anp.log(p[np.arange(N), labels])) / N


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("N,K", SHAPES)
def test_softmax_cross_entropy_value_and_gradient(N, K, seed):
    scores, labels, _ = data(N, K, seed)
    scores_before = scores.copy()
    loss, dscores = losses.softmax_cross_entropy(scores, labels)
    np.testing.assert_array_equal(scores, scores_before)              # no mutation
    assert isinstance(loss, float)
    assert loss == pytest.approx(anp_softmax_ce(scores, labels), rel=1e-12)
    np.testing.assert_allclose(dscores, grad(anp_softmax_ce)(scores, labels),
                               rtol=RTOL_AG, atol=ATOL_AG)
    num = numerical_gradient(lambda s: losses.softmax_cross_entropy(s, labels)[0], scores, H)
    np.testing.assert_allclose(dscores, num, rtol=RTOL_NUM, atol=ATOL_NUM)
    # a published implementation of the same quantity
    assert loss == pytest.approx(log_loss(labels, losses.softmax(scores), labels=range(K)),
                                 rel=1e-9)


@pytest.mark.parametrize("K", [2, 3, 10])
def test_softmax_cross_entropy_uniform_scores_give_log_k(K):
    loss, dscores = losses.softmax_cross_entropy(np.zeros((4, K)), np.array([0, 1, K - 1, 0]))
    assert loss == pytest.approx(np.log(K), rel=1e-15)
    # (1/K - onehot) / N
    assert dscores[0, 0] == pytest.approx((1 / K - 1) / 4, rel=1e-15)
    assert dscores[0, 1] == pytest.approx(1 / K / 4, rel=1e-15)


def test_softmax_cross_entropy_does_not_overflow_at_1e4():
    scores = np.array([[1e4, 0.0], [-1e4, 1e4]])
    labels = np.array([1, 1])
    with warnings.catch_warnings(), np.errstate(**STRICT):
        warnings.simplefilter("error")
        loss, dscores = losses.softmax_cross_entropy(scores, labels)
    assert loss == pytest.approx((1e4 + 0.0) / 2, rel=1e-15)        # -log p = 1e4, then 0
    np.testing.assert_allclose(dscores, [[0.5, -0.5], [0.0, 0.0]], atol=1e-300)


# ---------------------------------------------------------------------------------------------
# logistic loss
# ---------------------------------------------------------------------------------------------

def anp_logistic(scores, labels):
    p = 1 / (1 + anp.exp(-scores))
    return -anp.sum(labels * anp.log(p) + (1 - labels) * anp.log(1 - p)) / scores.shape[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", [(1,), (6,), (9, 1)], ids=str)
def test_logistic_loss_value_and_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(scale=3, size=shape)
    labels = rng.integers(0, 2, size=shape[0])
    loss, dscores = losses.logistic_loss(scores, labels)
    y = labels.reshape(shape).astype(float)
    assert dscores.shape == scores.shape
    assert loss == pytest.approx(anp_logistic(scores, y), rel=1e-12)
    np.testing.assert_allclose(dscores, grad(anp_logistic)(scores, y), rtol=RTOL_AG, atol=ATOL_AG)
    num = numerical_gradient(lambda s: losses.logistic_loss(s, labels)[0], scores, H)
    np.testing.assert_allclose(dscores, num, rtol=RTOL_NUM, atol=ATOL_NUM)
    p1 = 1 / (1 + np.exp(-scores.ravel()))
    assert loss == pytest.approx(log_loss(labels, p1, labels=[0, 1]), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_logistic_loss_is_two_class_softmax_with_a_zero_score(seed):
    # sigmoid(z) = softmax([0, z])[1]: the two losses and their gradients coincide
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=4, size=8)
    labels = rng.integers(0, 2, size=8)
    loss, dz = losses.logistic_loss(z, labels)
    two = np.stack([np.zeros(8), z], axis=1)
    loss2, dtwo = losses.softmax_cross_entropy(two, labels)
    assert loss == pytest.approx(loss2, rel=1e-13)
    np.testing.assert_allclose(dz, dtwo[:, 1], rtol=1e-12, atol=1e-16)


def test_logistic_loss_deck_001_worked_example():
    # X = 3, y = 1, W = 3: score W X = 9, L = L^A = -log p, dL/dW = dL/dscore * X
    loss, dscore = losses.logistic_loss(np.array([9.0]), np.array([1]))
    assert loss == pytest.approx(np.log1p(np.exp(-9.0)), rel=1e-14)
    dW = dscore[0] * 3.0
    assert dW < 0
    assert abs(dW) == pytest.approx(0.00037018372, abs=1e-11)  # deck value, 11 decimals (truncated)


def test_logistic_loss_does_not_overflow_at_1e4():
    with warnings.catch_warnings(), np.errstate(**STRICT):
        warnings.simplefilter("error")
        loss, d = losses.logistic_loss(np.array([1e4, -1e4, 1e4, -1e4]), np.array([0, 1, 1, 0]))
    assert loss == pytest.approx(2e4 / 4, rel=1e-15)               # two confident mistakes
    np.testing.assert_allclose(d, [0.25, -0.25, 0.0, 0.0], atol=1e-300)


# ---------------------------------------------------------------------------------------------
# half-SSE and MSE
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("N,K", SHAPES)
def test_half_sse_deck_002(N, K, seed):
    rng = np.random.default_rng(seed)
    y, t = rng.normal(size=(N, K)), rng.normal(size=(N, K))
    loss, delta = losses.half_sse(y, t)
    assert loss == pytest.approx(0.5 * sum((y[n, k] - t[n, k]) ** 2
                                           for n in range(N) for k in range(K)), rel=1e-13)
    np.testing.assert_allclose(delta, y - t, rtol=0, atol=0)        # deck 002: delta_k = y_k - t_k
    ag = grad(lambda y_: 0.5 * anp.sum((y_ - t) ** 2))(y)
    np.testing.assert_allclose(delta, ag, rtol=RTOL_AG, atol=ATOL_AG)
    num = numerical_gradient(lambda v: losses.half_sse(v, t)[0], y, H)
    np.testing.assert_allclose(delta, num, rtol=RTOL_NUM, atol=ATOL_NUM)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("N,K", SHAPES)
def test_mse_deck_003(N, K, seed):
    rng = np.random.default_rng(seed)
    o, d = rng.normal(size=(N, K)), rng.normal(size=(N, K))
    loss, do = losses.mse(o, d)
    # deck 003: E = 1/N sum_n sum_k (o_nk - d_nk)^2
    expected = sum(sum((o[n, k] - d[n, k]) ** 2 for k in range(K)) for n in range(N)) / N
    assert loss == pytest.approx(expected, rel=1e-13)
    # scikit-learn averages over the K outputs as well
    assert loss == pytest.approx(K * mean_squared_error(d, o), rel=1e-13)
    ag = grad(lambda o_: anp.sum((o_ - d) ** 2) / N)(o)
    np.testing.assert_allclose(do, ag, rtol=RTOL_AG, atol=ATOL_AG)
    num = numerical_gradient(lambda v: losses.mse(v, d)[0], o, H)
    np.testing.assert_allclose(do, num, rtol=RTOL_NUM, atol=ATOL_NUM)


def test_mse_of_a_vector_matches_scikit_learn():
    rng = np.random.default_rng(7)
    o, d = rng.normal(size=11), rng.normal(size=11)
    loss, do = losses.mse(o, d)
    assert loss == pytest.approx(mean_squared_error(d, o), rel=1e-13)
    np.testing.assert_allclose(do, 2 * (o - d) / 11, rtol=1e-15)


def test_exact_fit_has_zero_loss_and_gradient():
    y = np.arange(6.0).reshape(3, 2)
    for fn in (losses.half_sse, losses.mse):
        loss, d = fn(y, y.copy())
        assert loss == 0.0
        np.testing.assert_array_equal(d, 0.0)


def test_registry():
    assert set(losses.LOSSES) == {"half_sse", "mse", "softmax_cross_entropy", "logistic_loss"}
    for name, fn in losses.LOSSES.items():
        assert fn is getattr(losses, name)
