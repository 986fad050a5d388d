"""Layers as forward/backward pairs: affine, activation, batch and layer normalisation, dropout.

Mirrors deck 000's "a layer is sigma(Wx + b)" (split into its linear and its activation part),
deck 000's matrix chain rule dL/dW = X^T dL/dD for D = XW, and deck 001's batch normalisation
(mini-batch statistics, learnable gamma and beta, running averages at test time,
back-propagating through the normalisation), and the two regularising and normalising layers
every later course adds: inverted dropout (Srivastava et al. 2014) and layer normalisation (Ba,
Kiros & Hinton 2016).

Every layer is a pair::

    out, cache = layer_forward(x, ...)        # keep in ``cache`` what the backward pass needs
    dx, ... = layer_backward(dout, cache)     # dout = dC/d(out), returns dC/dx and dC/d(params)

**Row-batch convention.**  A mini-batch is a matrix x of shape (N, D) with one *row* per
example, and a weight matrix w has shape (D, M), so the layer computes ``x @ w + b``.  The
decks write one example as a *column* x and a weight matrix W of shape (M, D) with Wx + b.
The two are the same numbers: ``w = W.T`` and each row of ``x @ w + b`` is ``(W x_n + b)^T``.
Deck 000's worked example W = [[1, 2, -1, -2], [3, 4, -3, 4]], x = (1, 2, 3, 4), b = (5, 6)
reads ``affine_forward(np.array([[1, 2, 3, 4]]), W.T, b)`` here and gives [[-1, 24]].  In deck
004's notation w^l_kj (edge from node j of layer l-1 to node k of layer l) our ``w[j, k]`` is
w^l_kj: the "inverted" indices become a transpose.
"""

from __future__ import annotations

import numpy as np

from gradlab.activations import ACTIVATIONS
from gradlab.init import as_rng

__all__ = [
    "BN_EPS", "BN_MOMENTUM",
    "affine_forward", "affine_backward",
    "activation_pair", "activation_forward", "activation_backward",
    "batchnorm_forward", "batchnorm_backward",
    "LN_EPS", "layernorm_forward", "layernorm_backward",
    "dropout_forward", "dropout_backward",
]

# epsilon added to the mini-batch variance before the square root: the constant of Ioffe &
# Szegedy (2015), "Batch normalization", Algorithm 1, which keeps the division finite.  The
# paper leaves its value open; 1e-5 is the value of PyTorch's BatchNorm1d default.
BN_EPS = 1e-5
# weight of the *old* running average in  running <- momentum * running + (1 - momentum) * batch.
# Source: PyTorch's BatchNorm1d default (its momentum=0.1 is the weight of the *new* statistic,
# i.e. 0.9 here).  Ioffe & Szegedy (2015) only ask for "moving averages".
BN_MOMENTUM = 0.9


# ---------------------------------------------------------------------------------------------
# affine:  z = x w + b   (deck 000: z = Wx + b, the linear part of a layer)
# ---------------------------------------------------------------------------------------------

def affine_forward(x, w, b):
    """Affine (fully connected) layer, forward: ``out = x @ w + b``.

    Inputs:
    - x: (N, D) mini-batch, one example per row
    - w: (D, M) weights (the transpose of the decks' W, see the module docstring)
    - b: (M,) biases

    Returns:
    - out: (N, M)
    - cache: (x, w)
    """
    out = x @ w + b
    return out, (x, w)


def affine_backward(dout, cache, input_grad=True):
    """Affine layer, backward.

    With D = x w (deck 000's matrix chain rule):
        dC/dx = dC/dD w^T,   dC/dw = x^T dC/dD,   dC/db = sum over the batch of dC/dD.

    Inputs:
    - dout: (N, M) upstream gradient dC/d(out)
    - cache: (x, w) from :func:`affine_forward`
    - input_grad: compute dx; False skips that product when x is data (a network's
      first layer), and dx is then None

    Returns:
    - dx: (N, D)
    - dw: (D, M)
    - db: (M,)
    """
    x, w = cache
    dx = dout @ w.T if input_grad else None
    dw = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


# ---------------------------------------------------------------------------------------------
# activation layer, generic over gradlab.activations.ACTIVATIONS
# ---------------------------------------------------------------------------------------------

def activation_pair(name):
    """The (forward, backward) pair of an activation: a key of ACTIVATIONS, or a pair itself.

    Inputs:
    - name: "sigmoid", "tanh", "relu", "leaky_relu", "elu", "identity", or a custom
      pair (forward(x, **hyper) -> (out, cache), backward(dout, cache) -> dx)

    Returns:
    - (forward, backward)
    """
    if not isinstance(name, str):
        forward, backward = name
        return forward, backward
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None


def activation_forward(x, name="relu", **hyper):
    """Apply an activation elementwise: a name from :data:`gradlab.activations.ACTIVATIONS`.

    Inputs:
    - x: array of any shape, e.g. (N, M) pre-activations z
    - name: "sigmoid", "tanh", "relu", "leaky_relu", "elu" or "identity", or a
      custom (forward, backward) pair (see :func:`activation_pair`)
    - hyper: that activation's hyperparameters (``slope`` for leaky ReLU, ``alpha`` for ELU)

    Returns:
    - out: same shape as x
    - cache: (the activation's backward function, its own cache)
    """
    forward, backward = activation_pair(name)
    out, inner = forward(x, **hyper)
    return out, (backward, inner)


def activation_backward(dout, cache):
    """Backward pass of :func:`activation_forward`: dx = dout * f'(x).

    Inputs:
    - dout: upstream gradient, same shape as x
    - cache: from :func:`activation_forward`

    Returns:
    - dx: same shape as x
    """
    backward, inner = cache
    return backward(dout, inner)


# ---------------------------------------------------------------------------------------------
# batch normalisation  (deck 001; Ioffe & Szegedy 2015)
# ---------------------------------------------------------------------------------------------

def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation, forward, per feature (column).

    mode "train" (Ioffe & Szegedy 2015, Algorithm 1; deck 001 "training time"):
        mu      = (1/N) sum_n x_n                      mini-batch mean
        var     = (1/N) sum_n (x_n - mu)^2             mini-batch variance (biased, 1/N)
        x_hat   = (x - mu) / sqrt(var + eps)           normalise
        out     = gamma * x_hat + beta                 scale and shift back (learnable)
      and the running averages are updated *in place in bn_param*:
        running_mean <- momentum * running_mean + (1 - momentum) * mu
        running_var  <- momentum * running_var  + (1 - momentum) * var
      (the paper's inference step rescales the variance by N/(N-1); we average the same
      biased variance that the normalisation used -- the two differ by O(1/N)).

    mode "test" (deck 001 "test time": one example at a time, no batch statistics):
        out = gamma * (x - running_mean) / sqrt(running_var + eps) + beta

    Inputs:
    - x: (N, D) data
    - gamma: (D,) scale
    - beta: (D,) shift
    - bn_param: dict with
      - "mode": "train" or "test" (required)
      - "eps": default 1e-5 (Ioffe & Szegedy 2015's epsilon; see BN_EPS)
      - "momentum": default 0.9 (see BN_MOMENTUM)
      - "running_mean": (D,), created as zeros on first use
      - "running_var": (D,), created as ones on first use (the statistics of x_hat)

    Returns:
    - out: (N, D)
    - cache: what :func:`batchnorm_backward` needs
    """
    mode = bn_param.get("mode")
    eps = bn_param.get("eps", BN_EPS)
    momentum = bn_param.get("momentum", BN_MOMENTUM)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean")
    if running_mean is None:
        running_mean = np.zeros(D, dtype=x.dtype)
    running_var = bn_param.get("running_var")
    if running_var is None:
        running_var = np.ones(D, dtype=x.dtype)

    if mode == "train":
        mu = x.mean(axis=0)
        xc = x - mu
        var = (xc * xc).mean(axis=0)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = xc * inv_std
        out = gamma * x_hat + beta
        bn_param["running_mean"] = momentum * running_mean + (1.0 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1.0 - momentum) * var
    elif mode == "test":
        inv_std = 1.0 / np.sqrt(running_var + eps)
        x_hat = (x - running_mean) * inv_std
        out = gamma * x_hat + beta
        bn_param["running_mean"] = running_mean
        bn_param["running_var"] = running_var
    else:
        raise ValueError(f'bn_param["mode"] must be "train" or "test", got {mode!r}')
    return out, (mode, x_hat, gamma, inv_std)


def batchnorm_backward(dout, cache):
    """Batch normalisation, backward, in the simplified closed form.

    Derivation (train mode; per feature, so drop the column index; s = 1/sqrt(var + eps)):

      out = gamma x_hat + beta
        => dbeta  = sum_n dout_n
           dgamma = sum_n dout_n x_hat_n
           g_n   := dC/dx_hat_n = gamma dout_n

      x_hat_n = (x_n - mu) s depends on x_i directly *and* through mu and var:
        d x_hat_n / d x_i = s (1[n = i] - 1/N) - (x_n - mu) s^3 (x_i - mu) / N
                          = (s / N) (N 1[n = i] - 1 - x_hat_n x_hat_i)
        using d mu/d x_i = 1/N,  d var/d x_i = 2 (x_i - mu) / N,  ds/dvar = -s^3 / 2.

      so  dx_i = sum_n g_n d x_hat_n / d x_i
               = (s / N) (N g_i - sum_n g_n - x_hat_i sum_n g_n x_hat_n).

    In test mode mu and var are constants (the running averages), so dx = g s.

    Inputs:
    - dout: (N, D) upstream gradient
    - cache: from :func:`batchnorm_forward`

    Returns:
    - dx: (N, D)
    - dgamma: (D,)
    - dbeta: (D,)
    """
    mode, x_hat, gamma, inv_std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma                                        # dC/dx_hat
    if mode == "test":
        return g * inv_std, dgamma, dbeta
    N = dout.shape[0]
    dx = (inv_std / N) * (N * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# layer normalisation  (Ba, Kiros & Hinton 2016): batch norm's formula along the other axis
# ---------------------------------------------------------------------------------------------

# epsilon of layer normalisation: PyTorch's LayerNorm default (Ba et al. 2016 leave it open).
LN_EPS = 1e-5


def _normalize_rows(x, eps):
    """x_hat and 1/sqrt(var + eps) of every row of x (statistics over the last axis)."""
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    inv_std = 1.0 / np.sqrt((xc * xc).mean(axis=1, keepdims=True) + eps)
    return xc * inv_std, inv_std


def layernorm_forward(x, gamma, beta, eps=LN_EPS):
    """Layer normalisation, forward, per example (row).

    Batch norm's equations with the mean taken over the *features* of one example instead of
    over the batch (Ba et al. 2016, eq. 4):
        mu_n    = (1/D) sum_d x_nd                  one mean per example
        var_n   = (1/D) sum_d (x_nd - mu_n)^2       one variance per example (1/D)
        x_hat   = (x - mu) / sqrt(var + eps)
        out     = gamma * x_hat + beta              gamma, beta per feature, as in batch norm
    No running averages and no modes: an example's output never depends on the rest of its
    batch, so training and inference compute the same thing, at any batch size (even 1).

    Inputs:
    - x: (N, D) data
    - gamma: (D,) scale
    - beta: (D,) shift
    - eps: added to each variance, default 1e-5 (see LN_EPS)

    Returns:
    - out: (N, D)
    - cache: (x_hat (N, D), gamma (D,), inv_std (N, 1))
    """
    x_hat, inv_std = _normalize_rows(x, eps)
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


def layernorm_backward(dout, cache):
    """Layer normalisation, backward.

    :func:`batchnorm_backward`'s closed form with the roles of the axes swapped (transpose x and
    the batch-norm derivation reads the same): with g = gamma * dout and s = 1/sqrt(var + eps)
    per row,
        dx_n = (s_n / D) (D g_n - sum_d g_nd - x_hat_n sum_d g_nd x_hat_nd)
    while gamma and beta are still per feature, so their gradients still sum over the batch.

    Inputs:
    - dout: (N, D) upstream gradient
    - cache: from :func:`layernorm_forward`

    Returns:
    - dx: (N, D)
    - dgamma: (D,)
    - dbeta: (D,)
    """
    x_hat, gamma, inv_std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma                                        # dC/dx_hat
    D = dout.shape[1]
    dx = (inv_std / D) * (D * g - g.sum(axis=1, keepdims=True)
                          - x_hat * (g * x_hat).sum(axis=1, keepdims=True))
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# inverted dropout  (Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov 2014)
# ---------------------------------------------------------------------------------------------

def dropout_forward(x, p, mode="train", rng=None):
    """Inverted dropout, forward.

    mode "train": every unit is dropped (set to 0) with probability p, independently, and the
    units kept are scaled by 1/(1 - p), so that E[out] = x and nothing changes at inference:
        u    = rng.random(x.shape)                  one uniform number per unit, drawn once
        mask = (u >= p) / (1 - p)                   0 where dropped, 1/(1 - p) where kept
        out  = x * mask
    mode "test": out = x (every unit, unscaled: the scaling already happened in training).

    p is the probability of *dropping* a unit, as in PyTorch's ``nn.Dropout(p)``; Srivastava et
    al. (2014) write p for the probability of *keeping* one, and scale the weights by p at test
    time instead of the activations by 1/p in training (the same expectation, paid at the
    other end).

    Inputs:
    - x: array of any shape, e.g. (N, M) activations
    - p: drop probability, 0 <= p < 1
    - mode: "train" or "test"
    - rng: int seed or numpy Generator for the mask (see :func:`gradlab.init.as_rng`)

    Returns:
    - out: same shape as x
    - cache: (mode, mask); mask has x's shape in train mode, None in test mode
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p is the probability of dropping a unit, 0 <= p < 1; got {p}")
    if mode == "test":
        return x, (mode, None)
    if mode != "train":
        raise ValueError(f'dropout: mode must be "train" or "test", got {mode!r}')
    u = as_rng(rng).random(np.shape(x))
    mask = (u >= p) / (1.0 - p)
    return x * mask, (mode, mask)


def dropout_backward(dout, cache):
    """Inverted dropout, backward: out = x * mask is linear in x, so dx = dout * mask.

    A dropped unit passes no gradient back; a kept one passes it scaled by 1/(1 - p).  In test
    mode the layer is the identity and dx = dout.

    Inputs:
    - dout: upstream gradient, same shape as x
    - cache: (mode, mask) from :func:`dropout_forward`

    Returns:
    - dx: same shape as x
    """
    mode, mask = cache
    return dout if mode == "test" else dout * mask
