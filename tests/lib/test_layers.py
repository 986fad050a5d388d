"""gradlab.layers against independent oracles.

* deck 000's worked example W x + b = (-1, 24);
* central differences (gradlab.calculus, O(h^2)) and the ``autograd`` package for every
  backward pass (affine, activation, batch norm in train and test mode);
* batch-norm properties that follow from its definition (Ioffe & Szegedy 2015; deck 001):
  normalised statistics, the momentum recursion of the running averages, test mode using
  them, and the invariances sum_n dx_n = 0 and sum_n dx_n x_hat_n = 0.
"""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from gradlab import layers
from gradlab.activations import ACTIVATIONS
from gradlab.calculus import numerical_gradient_array

# central differences, h = 1e-5: error ~ h^2 |f'''| + eps |f| / h, about 1e-10 here
H = 1e-5
RTOL_NUM, ATOL_NUM = 1e-6, 1e-8
RTOL_AG, ATOL_AG = 1e-10, 1e-12          # autograd: same mathematics, another evaluation order

AFFINE_SHAPES = [(1, 1, 1), (4, 5, 3), (10, 3, 7)]   # (N, D, M)
BN_SHAPES = [(2, 1), (5, 4), (16, 3)]                 # (N, D)


def test_deck_000_worked_example():
    W = np.array([[1.0, 2, -1, -2], [3, 4, -3, 4]])   # deck 000: W acts on a column x
    x = np.array([1.0, 2, 3, 4])
    b = np.array([5.0, 6])
    # row-batch convention: one example per row, weights transposed
    out, _ = layers.affine_forward(x[None, :], W.T, b)
    np.testing.assert_array_equal(out, [[-1.0, 24.0]])
    # the intermediate step of the deck: W x = (-6, 18)
    out0, _ = layers.affine_forward(x[None, :], W.T, np.zeros(2))
    np.testing.assert_array_equal(out0, [[-6.0, 18.0]])


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("N,D,M", AFFINE_SHAPES)
def test_affine_rows_are_the_decks_columns(N, D, M, seed):
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(N, D)), rng.normal(size=(M, D)), rng.normal(size=M)
    out, _ = layers.affine_forward(x, W.T, b)
    for n in range(N):                       # each row is W x_n + b, computed entry by entry
        expected = [sum(W[k, j] * x[n, j] for j in range(D)) + b[k] for k in range(M)]
        np.testing.assert_allclose(out[n], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("N,D,M", AFFINE_SHAPES)
def test_affine_backward_matches_central_differences(N, D, M, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(N, D)), rng.normal(size=(D, M)), rng.normal(size=M)
    dout = rng.normal(size=(N, M))
    _, cache = layers.affine_forward(x, w, b)
    dx, dw, db = layers.affine_backward(dout, cache)
    f = layers.affine_forward
    np.testing.assert_allclose(dx, numerical_gradient_array(lambda v: f(v, w, b)[0], x, dout, H),
                               rtol=RTOL_NUM, atol=ATOL_NUM)
    np.testing.assert_allclose(dw, numerical_gradient_array(lambda v: f(x, v, b)[0], w, dout, H),
                               rtol=RTOL_NUM, atol=ATOL_NUM)
    np.testing.assert_allclose(db, numerical_gradient_array(lambda v: f(x, w, v)[0], b, dout, H),
                               rtol=RTOL_NUM, atol=ATOL_NUM)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("N,D,M", AFFINE_SHAPES)
def test_affine_backward_matches_autograd(N, D, M, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(N, D)), rng.normal(size=(D, M)), rng.normal(size=M)
    dout = rng.normal(size=(N, M))
    _, cache = layers.affine_forward(x, w, b)
    dx, dw, db = layers.affine_backward(dout, cache)

    def scalar(x_, w_, b_):                   # <dout, x w + b>: its gradients are the VJPs
        return anp.sum((anp.dot(x_, w_) + b_) * dout)

    for got, argnum in ((dx, 0), (dw, 1), (db, 2)):
        np.testing.assert_allclose(got, grad(scalar, argnum)(x, w, b), rtol=RTOL_AG, atol=ATOL_AG)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_layer_is_generic_over_the_registry(name, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, 4))
    x = np.where(np.abs(x) < 1e-3, 0.5, x)            # away from the ReLU kink
    dout = rng.normal(size=x.shape)
    out, cache = layers.activation_forward(x, name)
    dx = layers.activation_backward(dout, cache)
    forward = lambda v: layers.activation_forward(v, name)[0]
    np.testing.assert_allclose(dx, numerical_gradient_array(forward, x, dout, H),
                               rtol=RTOL_NUM, atol=ATOL_NUM)


def test_activation_layer_passes_hyperparameters():
    x = np.array([[-2.0, 3.0]])
    out, cache = layers.activation_forward(x, "leaky_relu", slope=0.25)
    np.testing.assert_array_equal(out, [[-0.5, 3.0]])
    np.testing.assert_array_equal(layers.activation_backward(np.ones((1, 2)), cache), [[0.25, 1.0]])
    out, _ = layers.activation_forward(np.array([[np.log(0.5)]]), "elu", alpha=2.0)
    np.testing.assert_allclose(out, [[-1.0]], rtol=1e-15)          # 2 * (1/2 - 1)


def test_unknown_activation_says_what_exists():
    with pytest.raises(ValueError, match="relu"):
        layers.activation_forward(np.zeros((1, 1)), "softplus")


# ---------------------------------------------------------------------------------------------
# batch normalisation
# ---------------------------------------------------------------------------------------------

def bn_data(N, D, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=rng.normal(scale=3, size=D), scale=rng.uniform(0.5, 4, size=D), size=(N, D))
    gamma = rng.uniform(0.5, 2, size=D) * rng.choice([-1, 1], size=D)
    beta = rng.normal(size=D)
    return x, gamma, beta


def anp_batchnorm_train(x, gamma, beta, eps):
    """Batch norm written from Ioffe & Szegedy's Algorithm 1, for autograd."""
    mu = anp.mean(x, axis=0)
    var = anp.mean((x - mu) ** 2, axis=0)
    return gamma * (x - mu) / anp.sqrt(var + eps) + beta


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("N,D", [(4, 3), (50, 5), (200, 2)])
def test_batchnorm_train_output_is_normalised_then_scaled_and_shifted(N, D, seed):
    x, gamma, beta = bn_data(N, D, seed)
    eps = 1e-5
    out, _ = layers.batchnorm_forward(x, np.ones(D), np.zeros(D), {"mode": "train"})
    var = x.var(axis=0)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    # the variance of x_hat is var / (var + eps): 1 up to the eps of the paper
    np.testing.assert_allclose(out.var(axis=0), var / (var + eps), rtol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), 1.0, rtol=1e-4)
    out, _ = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), np.abs(gamma) * np.sqrt(var / (var + eps)),
                               rtol=1e-12)


def test_batchnorm_eps_default_and_custom():
    assert layers.BN_EPS == 1e-5                  # Ioffe & Szegedy (2015)
    x = np.array([[0.0], [2.0]])                  # mean 1, biased variance 1
    out, _ = layers.batchnorm_forward(x, np.ones(1), np.zeros(1), {"mode": "train"})
    np.testing.assert_allclose(out[:, 0], [-1 / np.sqrt(1 + 1e-5), 1 / np.sqrt(1 + 1e-5)], rtol=1e-15)
    out, _ = layers.batchnorm_forward(x, np.ones(1), np.zeros(1), {"mode": "train", "eps": 3.0})
    np.testing.assert_allclose(out[:, 0], [-0.5, 0.5], rtol=1e-15)   # 1 / sqrt(1 + 3)


def test_batchnorm_constant_feature_stays_finite():
    x = np.full((8, 2), 3.0)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out, cache = layers.batchnorm_forward(x, np.ones(2), np.full(2, 0.7), {"mode": "train"})
        dx, dgamma, dbeta = layers.batchnorm_backward(np.ones((8, 2)), cache)
    np.testing.assert_array_equal(out, 0.7)       # x_hat = 0 / sqrt(eps) = 0
    assert np.all(np.isfinite(dx))


@pytest.mark.parametrize("momentum", [0.9, 0.5, 0.0])
def test_batchnorm_running_averages_follow_the_momentum_recursion(momentum):
    rng = np.random.default_rng(3)
    D = 3
    bn_param = {"mode": "train"} if momentum == 0.9 else {"mode": "train", "momentum": momentum}
    mean, var = np.zeros(D), np.ones(D)           # documented starting values
    for step in range(6):
        x = rng.normal(loc=step, scale=1 + step, size=(10, D))
        layers.batchnorm_forward(x, np.ones(D), np.zeros(D), bn_param)
        mean = momentum * mean + (1 - momentum) * x.mean(axis=0)
        var = momentum * var + (1 - momentum) * x.var(axis=0)
        np.testing.assert_allclose(bn_param["running_mean"], mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(bn_param["running_var"], var, rtol=1e-12)


def test_batchnorm_running_averages_converge_to_the_population():
    rng = np.random.default_rng(4)
    loc, scale = np.array([5.0, -2.0]), np.array([3.0, 0.5])
    bn_param = {"mode": "train"}
    for _ in range(300):
        layers.batchnorm_forward(rng.normal(loc, scale, size=(256, 2)), np.ones(2), np.zeros(2),
                                 bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], loc, atol=0.1)
    np.testing.assert_allclose(bn_param["running_var"], scale ** 2, rtol=0.05)


def test_batchnorm_test_mode_uses_the_running_averages():
    rng = np.random.default_rng(5)
    D = 4
    gamma, beta = rng.uniform(0.5, 2, D), rng.normal(size=D)
    rm, rv = rng.normal(size=D), rng.uniform(0.5, 3, D)
    bn_param = {"mode": "test", "running_mean": rm.copy(), "running_var": rv.copy(), "eps": 1e-3}
    x = rng.normal(size=(1, D))                   # one example: no batch statistics exist
    out, _ = layers.batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out, gamma * (x - rm) / np.sqrt(rv + 1e-3) + beta, rtol=1e-12)
    np.testing.assert_array_equal(bn_param["running_mean"], rm)     # test mode learns nothing
    np.testing.assert_array_equal(bn_param["running_var"], rv)
    # each example is normalised on its own: the output of a row does not depend on the others
    X = rng.normal(size=(7, D))
    full, _ = layers.batchnorm_forward(X, gamma, beta, bn_param)
    row, _ = layers.batchnorm_forward(X[2:3], gamma, beta, bn_param)
    np.testing.assert_allclose(full[2:3], row, rtol=1e-14)


def test_batchnorm_rejects_unknown_mode():
    with pytest.raises(ValueError, match="train"):
        layers.batchnorm_forward(np.zeros((2, 1)), np.ones(1), np.zeros(1), {"mode": "eval"})
    with pytest.raises(ValueError):
        layers.batchnorm_forward(np.zeros((2, 1)), np.ones(1), np.zeros(1), {})


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("N,D", BN_SHAPES)
def test_batchnorm_backward_train_matches_central_differences(N, D, seed):
    x, gamma, beta = bn_data(N, D, seed)
    dout = np.random.default_rng(seed + 10).normal(size=(N, D))
    x_before = x.copy()
    _, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    np.testing.assert_array_equal(x, x_before)

    def f(x_=x, g_=gamma, b_=beta):                # fresh bn_param: running stats irrelevant
        return layers.batchnorm_forward(x_, g_, b_, {"mode": "train"})[0]

    np.testing.assert_allclose(dx, numerical_gradient_array(lambda v: f(x_=v), x, dout, H),
                               rtol=RTOL_NUM, atol=ATOL_NUM)
    np.testing.assert_allclose(dgamma, numerical_gradient_array(lambda v: f(g_=v), gamma, dout, H),
                               rtol=RTOL_NUM, atol=ATOL_NUM)
    np.testing.assert_allclose(dbeta, numerical_gradient_array(lambda v: f(b_=v), beta, dout, H),
                               rtol=RTOL_NUM, atol=ATOL_NUM)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("N,D", BN_SHAPES)
def test_batchnorm_backward_train_matches_autograd(N, D, seed):
    x, gamma, beta = bn_data(N, D, seed)
    dout = np.random.default_rng(seed + 20).normal(size=(N, D))
    eps = 1e-5
    _, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    scalar = lambda x_, g_, b_: anp.sum(anp_batchnorm_train(x_, g_, b_, eps) * dout)
    for got, argnum in ((dx, 0), (dgamma, 1), (dbeta, 2)):
        np.testing.assert_allclose(got, grad(scalar, argnum)(x, gamma, beta),
                                   rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("N,D", [(3, 2), (5, 4), (16, 3)])
def test_batchnorm_dx_is_orthogonal_to_shifts_and_scalings(N, D, seed):
    # the train-mode output does not change when a feature is shifted (x + c) or, for eps -> 0,
    # scaled about its mean; hence sum_n dx_n = 0 and sum_n dx_n (x_n - mu) = 0 per feature
    x, gamma, beta = bn_data(N, D, seed)
    dout = np.random.default_rng(seed + 30).normal(size=(N, D))
    _, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": 0.0})
    dx, _, _ = layers.batchnorm_backward(dout, cache)
    scale = np.abs(gamma) * np.abs(dout).sum(axis=0) / x.std(axis=0)   # size of each term
    np.testing.assert_allclose(dx.sum(axis=0) / scale, 0.0, atol=1e-13)
    np.testing.assert_allclose((dx * (x - x.mean(axis=0))).sum(axis=0) / scale / x.std(axis=0),
                               0.0, atol=1e-13)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("N,D", [(1, 3), (6, 2)])
def test_batchnorm_backward_test_mode(N, D, seed):
    x, gamma, beta = bn_data(N, D, seed)
    rng = np.random.default_rng(seed + 40)
    dout = rng.normal(size=(N, D))
    rm, rv = rng.normal(size=D), rng.uniform(0.5, 2, D)

    def f(x_=x, g_=gamma, b_=beta):
        bn = {"mode": "test", "running_mean": rm, "running_var": rv}
        return layers.batchnorm_forward(x_, g_, b_, bn)[0]

    _, cache = layers.batchnorm_forward(x, gamma, beta,
                                        {"mode": "test", "running_mean": rm, "running_var": rv})
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    for got, which, arg in ((dx, "x_", x), (dgamma, "g_", gamma), (dbeta, "b_", beta)):
        num = numerical_gradient_array(lambda v: f(**{which: v}), arg, dout, H)
        np.testing.assert_allclose(got, num, rtol=RTOL_NUM, atol=ATOL_NUM)
    # in test mode the layer is affine in x: dx = dout * gamma / sqrt(rv + eps)
    np.testing.assert_allclose(dx, dout * gamma / np.sqrt(rv + 1e-5), rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# layer normalisation: Ba, Kiros & Hinton (2016), eq. 4, per example
# ---------------------------------------------------------------------------------------------

LN_SHAPES = [(1, 3), (4, 5), (16, 2)]                 # (N, D); one example is enough


def anp_layernorm(x, gamma, beta, eps):
    """Layer norm written from Ba et al.'s equation 4, for autograd."""
    mu = anp.mean(x, axis=1, keepdims=True)
    var = anp.mean((x - mu) ** 2, axis=1, keepdims=True)
    return gamma * (x - mu) / anp.sqrt(var + eps) + beta


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("N,D", LN_SHAPES)
def test_layernorm_rows_are_normalised_then_scaled_and_shifted(N, D, seed):
    x, gamma, beta = bn_data(N, D, seed)
    x = x * np.random.default_rng(seed).uniform(0.5, 3, size=(N, 1))   # rows on different scales
    out, _ = layers.layernorm_forward(x, np.ones(D), np.zeros(D), eps=0.0)
    for n in range(N):                              # each row: mean 0, variance 1 (D >= 2)
        assert out[n].mean() == pytest.approx(0.0, abs=1e-12)
        assert out[n].var() == pytest.approx(1.0, rel=1e-10)
    scaled, _ = layers.layernorm_forward(x, gamma, beta, eps=0.0)
    np.testing.assert_allclose(scaled, gamma * out + beta, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("N,D", LN_SHAPES)
def test_layernorm_is_batchnorm_of_the_transpose(N, D, seed):
    """Normalising rows is normalising the columns of xᵀ: batch norm with γ = 1, β = 0."""
    x, _, _ = bn_data(N, D, seed)
    out, _ = layers.layernorm_forward(x, np.ones(D), np.zeros(D))
    bn, _ = layers.batchnorm_forward(x.T, np.ones(N), np.zeros(N), {"mode": "train"})
    np.testing.assert_allclose(out, bn.T, rtol=1e-12, atol=1e-12)


def test_layernorm_of_an_example_does_not_depend_on_its_batch():
    x, gamma, beta = bn_data(8, 4, 3)
    whole, _ = layers.layernorm_forward(x, gamma, beta)
    for n in range(8):
        alone, _ = layers.layernorm_forward(x[n:n + 1], gamma, beta)
        np.testing.assert_array_equal(alone[0], whole[n])
    assert layers.LN_EPS == 1e-5                    # PyTorch's LayerNorm default


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("N,D", LN_SHAPES)
def test_layernorm_backward_matches_central_differences_and_autograd(N, D, seed):
    x, gamma, beta = bn_data(N, D, seed)
    dout = np.random.default_rng(seed + 30).normal(size=(N, D))
    x_before = x.copy()
    _, cache = layers.layernorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = layers.layernorm_backward(dout, cache)
    np.testing.assert_array_equal(x, x_before)

    def f(x_=x, g_=gamma, b_=beta):
        return layers.layernorm_forward(x_, g_, b_)[0]

    for got, numeric in [(dx, numerical_gradient_array(lambda v: f(x_=v), x, dout, H)),
                         (dgamma, numerical_gradient_array(lambda v: f(g_=v), gamma, dout, H)),
                         (dbeta, numerical_gradient_array(lambda v: f(b_=v), beta, dout, H))]:
        np.testing.assert_allclose(got, numeric, rtol=RTOL_NUM, atol=ATOL_NUM)

    def L(x_, g_, b_):
        return anp.sum(dout * anp_layernorm(x_, g_, b_, layers.LN_EPS))
    for i, got in enumerate((dx, dgamma, dbeta)):
        np.testing.assert_allclose(got, grad(L, i)(x, gamma, beta), rtol=RTOL_AG, atol=ATOL_AG)


# ---------------------------------------------------------------------------------------------
# inverted dropout: Srivastava et al. (2014), with the 1/(1 - p) scaling in training
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(3,), (4, 5), (2, 3, 4)])
def test_dropout_mask_is_the_documented_draw(p, shape):
    x = np.random.default_rng(1).normal(size=shape)
    out, (mode, mask) = layers.dropout_forward(x, p, "train", rng=7)
    u = np.random.default_rng(7).random(shape)          # the one draw the docstring names
    keep = u >= p
    np.testing.assert_array_equal(out == 0, ~keep | (x == 0))
    np.testing.assert_allclose(out[keep], x[keep] / (1 - p), rtol=1e-15)
    assert mode == "train" and mask.shape == shape


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_the_expectation_and_drops_a_fraction_p(p):
    """E[out] = x: the point of the inverted scaling.  With 400 000 units the sample mean of
    out/x is within 5 standard errors, sqrt(p/(1-p)/n), of 1; the dropped share within 5 of p."""
    n = 400_000
    x = np.full(n, 2.0)
    out, _ = layers.dropout_forward(x, p, "train", rng=np.random.default_rng(5))
    se = np.sqrt(p / (1 - p) / n)
    assert abs(np.mean(out / x) - 1.0) < 5 * se
    assert abs(np.mean(out == 0) - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_dropout_test_mode_is_the_identity_and_draws_nothing():
    x = np.random.default_rng(2).normal(size=(5, 3))
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    out, cache = layers.dropout_forward(x, 0.5, "test", rng=rng)
    np.testing.assert_array_equal(out, x)
    assert rng.bit_generator.state == state
    np.testing.assert_array_equal(layers.dropout_backward(x, cache), x)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.75])
@pytest.mark.parametrize("shape", [(1, 1), (4, 6), (3, 2, 5)])
def test_dropout_backward_matches_central_differences_and_autograd(seed, p, shape):
    rng = np.random.default_rng(seed)
    x, dout = rng.normal(size=shape), rng.normal(size=shape)
    _, cache = layers.dropout_forward(x, p, "train", rng=seed + 100)
    dx = layers.dropout_backward(dout, cache)

    def f(v):                                        # the same mask: the same seed every call
        return layers.dropout_forward(v, p, "train", rng=seed + 100)[0]

    np.testing.assert_allclose(dx, numerical_gradient_array(f, x, dout, H), rtol=RTOL_NUM, atol=ATOL_NUM)
    mask = (np.random.default_rng(seed + 100).random(shape) >= p) / (1 - p)
    np.testing.assert_allclose(dx, grad(lambda v: anp.sum(dout * v * mask))(x), rtol=RTOL_AG, atol=ATOL_AG)


@pytest.mark.parametrize("p,mode", [(1.0, "train"), (-0.1, "train"), (0.5, "eval")])
def test_dropout_rejects_bad_arguments(p, mode):
    with pytest.raises(ValueError, match="dropout"):
        layers.dropout_forward(np.ones(3), p, mode, rng=0)
