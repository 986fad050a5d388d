"""Activation functions as forward/backward pairs.

Mirrors the activation-function table of deck 002 (logistic sigmoid, tanh, ReLU, leaky ReLU,
ELU, each with its derivative), deck 003's S'(z) = S(z)(1 - S(z)) and deck 000's remark that
tanh is a rescaled sigmoid.  Every activation comes in four shapes:

* ``f(x)``                          -- the plain function, elementwise;
* ``f_prime(x)``                    -- its derivative f'(x), elementwise (the table's y'(a));
* ``out, cache = f_forward(x)``     -- the layer view used by the network;
* ``dx = f_backward(dout, cache)``  -- the chain rule through the layer: dx = dout * f'(x).

The backward passes reuse what the forward pass already computed: sigmoid and tanh cache their
*output* because their derivatives are functions of the output (deck 002: y' = y(1 - y) and
y' = 1 - y^2), ReLU-type units cache their *input* because their derivative is a step in x.

:data:`ACTIVATIONS` maps a name to its ``(forward, backward)`` pair; the MLP in
:mod:`gradlab.network` and :func:`gradlab.layers.activation_forward` look activations up there.

Conventions: the derivative of ReLU and leaky ReLU at exactly 0 is taken from the left
(deck 002 writes "0 if a <= 0" and "k if a <= 0"); the same for ELU (its two one-sided
derivatives agree there when alpha = 1).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ACTIVATIONS", "LEAKY_SLOPE", "ELU_ALPHA",
    "sigmoid", "sigmoid_prime", "sigmoid_forward", "sigmoid_backward",
    "tanh", "tanh_prime", "tanh_forward", "tanh_backward",
    "relu", "relu_prime", "relu_forward", "relu_backward",
    "leaky_relu", "leaky_relu_prime", "leaky_relu_forward", "leaky_relu_backward",
    "elu", "elu_prime", "elu_forward", "elu_backward",
    "identity", "identity_prime", "identity_forward", "identity_backward",
]

# Slope k of leaky ReLU for a <= 0.  Source: Maas, Hannun & Ng (2013), "Rectifier
# nonlinearities improve neural network acoustic models", who use 0.01.
LEAKY_SLOPE = 0.01
# Scale k (called alpha in the paper) of ELU for a <= 0.  Source: Clevert, Unterthiner &
# Hochreiter (2015), "Fast and accurate deep network learning by exponential linear units", alpha = 1.
ELU_ALPHA = 1.0


# ---------------------------------------------------------------------------------------------
# logistic sigmoid  (deck 002 table, deck 003)
# ---------------------------------------------------------------------------------------------

def sigmoid(x):
    """Logistic sigmoid S(x) = 1 / (1 + e^(-x)), elementwise, without overflow.

    The textbook formula overflows in ``exp(-x)`` for x << 0 (e.g. x = -1000).  We only ever
    exponentiate -|x| <= 0, so e = e^(-|x|) lies in (0, 1]:

        x >= 0:  S(x) = 1 / (1 + e)
        x <  0:  S(x) = e^x / (1 + e^x) = e / (1 + e)      (multiply top and bottom by e^x)

    Inputs:
    - x: array of any shape (or a scalar)

    Returns:
    - array of the same shape with values in [0, 1]
    """
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    s = 1.0 / (1.0 + e)
    return np.where(x >= 0, s, e * s)


def sigmoid_prime(x):
    """Derivative of the sigmoid: S'(x) = S(x) (1 - S(x))  (deck 003; deck 002: at most 1/4)."""
    s = sigmoid(x)
    return s * (1.0 - s)


def sigmoid_forward(x):
    """Sigmoid layer, forward.

    Inputs:
    - x: array of any shape, e.g. pre-activations z of shape (N, M)

    Returns:
    - out: S(x), same shape as x
    - cache: out itself (the derivative is a function of the output)
    """
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    """Sigmoid layer, backward: dx = dout * S(x) (1 - S(x)).

    Inputs:
    - dout: upstream gradient dC/d(out), same shape as x
    - cache: the ``out`` of :func:`sigmoid_forward`

    Returns:
    - dx: dC/dx, same shape as x
    """
    s = cache
    return dout * s * (1.0 - s)


# ---------------------------------------------------------------------------------------------
# tanh  (deck 002: tanh(a) = 2 S(2a) - 1 and tanh' = 1 - tanh^2; deck 000 says the same)
# ---------------------------------------------------------------------------------------------

def tanh(x):
    """Hyperbolic tangent, elementwise.  Equals 2 S(2x) - 1 (deck 002); NumPy's is stable."""
    return np.tanh(np.asarray(x, dtype=float))


def tanh_prime(x):
    """Derivative of tanh: 1 - tanh(x)^2  (deck 002, at most 1 at x = 0)."""
    t = np.tanh(np.asarray(x, dtype=float))
    return 1.0 - t * t


def tanh_forward(x):
    """Tanh layer, forward.

    Inputs:
    - x: array of any shape

    Returns:
    - out: tanh(x), same shape
    - cache: out itself
    """
    out = tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """Tanh layer, backward: dx = dout * (1 - out^2)  (deck 002's (1 - z_j^2) factor).

    Inputs:
    - dout: upstream gradient, same shape as x
    - cache: the ``out`` of :func:`tanh_forward`

    Returns:
    - dx: same shape as x
    """
    t = cache
    return dout * (1.0 - t * t)


# ---------------------------------------------------------------------------------------------
# ReLU  (deck 002: y = a if a > 0 else 0; y' = 1 if a > 0 else 0)
# ---------------------------------------------------------------------------------------------

def relu(x):
    """Rectified linear unit max(x, 0), elementwise."""
    return np.maximum(np.asarray(x, dtype=float), 0.0)


def relu_prime(x):
    """Derivative of ReLU: 1 where x > 0, else 0 (including x = 0, as in deck 002)."""
    return (np.asarray(x) > 0).astype(float)


def relu_forward(x):
    """ReLU layer, forward.

    Inputs:
    - x: array of any shape

    Returns:
    - out: max(x, 0), same shape
    - cache: x (the derivative is a step in x)
    """
    return relu(x), x


def relu_backward(dout, cache):
    """ReLU layer, backward: dx = dout where x > 0, else 0.

    Inputs:
    - dout: upstream gradient, same shape as x
    - cache: the ``x`` given to :func:`relu_forward`

    Returns:
    - dx: same shape as x
    """
    x = cache
    return dout * (x > 0)


# ---------------------------------------------------------------------------------------------
# leaky ReLU  (deck 002: y = a if a > 0 else k a; y' = 1 or k)
# ---------------------------------------------------------------------------------------------

def leaky_relu(x, slope=LEAKY_SLOPE):
    """Leaky ReLU: x for x > 0, ``slope * x`` otherwise (slope = deck 002's k, 0 <= k <= 1)."""
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, slope * x)


def leaky_relu_prime(x, slope=LEAKY_SLOPE):
    """Derivative of leaky ReLU: 1 where x > 0, else ``slope``."""
    return np.where(np.asarray(x) > 0, 1.0, float(slope))


def leaky_relu_forward(x, slope=LEAKY_SLOPE):
    """Leaky-ReLU layer, forward.

    Inputs:
    - x: array of any shape
    - slope: k, the slope for x <= 0 (default 0.01, Maas et al. 2013)

    Returns:
    - out: ``leaky_relu(x, slope)``, same shape as x
    - cache: (x, slope), since the derivative is a step in x
    """
    return leaky_relu(x, slope), (x, slope)


def leaky_relu_backward(dout, cache):
    """Leaky-ReLU layer, backward: dx = dout where x > 0, else slope * dout.

    Inputs:
    - dout: upstream gradient, same shape as x
    - cache: (x, slope) from :func:`leaky_relu_forward`

    Returns:
    - dx: same shape as x
    """
    x, slope = cache
    return np.where(x > 0, dout, slope * dout)


# ---------------------------------------------------------------------------------------------
# ELU  (deck 002: y = a if a > 0 else k (e^a - 1); y' = 1 or y + k)
# ---------------------------------------------------------------------------------------------

def elu(x, alpha=ELU_ALPHA):
    """Exponential linear unit: x for x > 0, ``alpha * (e^x - 1)`` otherwise.

    ``expm1`` keeps e^x - 1 accurate for small |x|; clipping its argument at 0 keeps the
    branch that ``np.where`` discards from overflowing for large positive x.
    """
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_prime(x, alpha=ELU_ALPHA):
    """Derivative of ELU: 1 where x > 0, else y(x) + alpha = alpha e^x  (deck 002)."""
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def elu_forward(x, alpha=ELU_ALPHA):
    """ELU layer, forward.

    The cache keeps the output as well as x: below 0 the derivative is out + alpha (deck 002's
    y' = y + k), so the backward pass needs no second exponential.

    Inputs:
    - x: array of any shape
    - alpha: k, the scale for x <= 0 (default 1, Clevert et al. 2015)

    Returns:
    - out: ``elu(x, alpha)``, same shape as x
    - cache: (x, out, alpha)
    """
    out = elu(x, alpha)
    return out, (x, out, alpha)


def elu_backward(dout, cache):
    """ELU layer, backward: dx = dout where x > 0, else dout * (out + alpha)  (deck 002's y + k).

    Inputs:
    - dout: upstream gradient, same shape as x
    - cache: (x, out, alpha) from :func:`elu_forward`

    Returns:
    - dx: same shape as x
    """
    x, out, alpha = cache
    return np.where(x > 0, dout, dout * (out + alpha))


# ---------------------------------------------------------------------------------------------
# identity  (no non-linearity: deck 001's deep *linear* chain h_i = W h_(i-1))
# ---------------------------------------------------------------------------------------------

def identity(x):
    """The identity x -> x (a linear unit).  Deck 000: stacking only these collapses to one W."""
    return np.asarray(x, dtype=float)


def identity_prime(x):
    """Derivative of the identity: 1 everywhere."""
    return np.ones_like(np.asarray(x, dtype=float))


def identity_forward(x):
    """Identity layer, forward: ``out = x``, ``cache = None``."""
    return identity(x), None


def identity_backward(dout, cache):
    """Identity layer, backward: ``dx = dout``."""
    return dout


# name -> (forward, backward).  Forward functions take (x, **hyper) and return (out, cache);
# backward functions take (dout, cache) and return dx.
ACTIVATIONS = {
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "elu": (elu_forward, elu_backward),
    "identity": (identity_forward, identity_backward),
}
