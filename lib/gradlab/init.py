"""Weight and bias initialisers.

Mirrors deck 001's "Parameter Initialization" section: weights must be random to break the
symmetry between units (identical units would receive identical gradients and stay identical),
and their scale matters — too large and gradients explode, too small and they vanish.  The
scaled Gaussian and uniform schemes below keep the variance of activations (and gradients)
roughly constant from layer to layer.

Shape and fan-in convention
---------------------------
Every weight initialiser takes ``(m, n)`` and returns a float64 array of shape ``(m, n)``,
where **m is the fan-in** (the number of inputs of the layer) and n the fan-out (the number of
units).  That matches the row-vector layer ``out = x @ W + b`` with ``x`` of shape (N, m), the
convention of :mod:`gradlab.layers`.  Decks 000 and 004 write a layer as ``σ(W x + b)`` with W of
shape (n, m); for that convention use ``xavier(m, n).T`` — the distribution only depends on
m (and n), not on which way the matrix is stored.

Randomness
----------
``rng`` may be a :class:`numpy.random.Generator`, an int seed, or ``None`` (fresh entropy).
The same int seed always gives the same array.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "as_rng", "zeros", "normal", "xavier", "lecun_normal", "he", "glorot_uniform", "constant", "relu_bias",
    "INITIALIZERS",
]


def as_rng(rng=None):
    """Return a :class:`numpy.random.Generator` from a Generator, an int seed or ``None``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, "
                    f"got {type(rng).__name__}")


def _check_shape(m, n):
    if int(m) != m or int(n) != n or m < 1 or n < 1:
        raise ValueError(f"initialiser: m (fan-in) and n (fan-out) must be positive integers, "
                         f"got m={m}, n={n}")
    return int(m), int(n)


def zeros(m, n, rng=None):
    """All-zero weights, shape (m, n).

    Only useful as the counter-example of deck 001: with equal weights every unit of a layer
    computes the same function and receives the same gradient, so the symmetry is never broken.
    ``rng`` is accepted (and ignored) so every initialiser has the same signature.

    Returns:
    - W: float64 array of shape (m, n), all zeros.
    """
    m, n = _check_shape(m, n)
    return np.zeros((m, n), dtype=np.float64)


def normal(m, n, std=0.01, rng=None):
    """Unscaled Gaussian weights W_ij ~ N(0, std²), shape (m, n).

    Inputs:
    - m: fan-in (number of inputs); n: fan-out (number of units).
    - std: standard deviation.  Default 0.01: Hinton (2010), "A practical guide to training
      restricted Boltzmann machines", §8, recommends N(0, 0.01²) — "small random numbers".
      Fine for shallow nets; deep ones need the fan-in scaling of :func:`xavier` / :func:`he`.
    - rng: Generator, int seed or None.

    Returns:
    - W: float64 array of shape (m, n).
    """
    m, n = _check_shape(m, n)
    return std * as_rng(rng).standard_normal((m, n))


def xavier(m, n, rng=None):
    """LeCun initialisation W_ij ~ N(0, 1/m), shape (m, n), under deck 001's name "Xavier".

    Deck 001: a heuristic so that every output has unit variance: with m independent inputs
    of unit variance, Var(Σᵢ xᵢ Wᵢⱼ) = m · Var(W) = 1  ⇒  Var(W) = 1/m.  The 1/fan-in variance
    is LeCun et al. 1998, "Efficient BackProp" (:data:`lecun_normal` is this function under that
    name).  Deck 001's naming is not the libraries': there "Xavier" is Glorot (Xavier Glorot),
    Var(W) = 2/(m+n), as in :func:`glorot_uniform`.  Suited to tanh / sigmoid layers.

    Inputs:
    - m: fan-in; n: fan-out.
    - rng: Generator, int seed or None.

    Returns:
    - W: float64 array of shape (m, n), standard deviation 1/√m.
    """
    m, n = _check_shape(m, n)
    return as_rng(rng).standard_normal((m, n)) * np.sqrt(1.0 / m)   # σ² = 1/m  (deck 001)


#: N(0, 1/m) under its usual name (LeCun et al. 1998); the course's exercises keep deck 001's ``xavier``.
lecun_normal = xavier


def he(m, n, rng=None):
    """He initialisation W_ij ~ N(0, 2/m), shape (m, n) (He et al. 2015; deck 001 for ReLU).

    A ReLU zeroes half of its inputs on average, halving the variance passed on; doubling the
    weight variance compensates (He, Zhang, Ren and Sun 2015, "Delving deep into rectifiers").

    Inputs:
    - m: fan-in; n: fan-out.
    - rng: Generator, int seed or None.

    Returns:
    - W: float64 array of shape (m, n), standard deviation √(2/m).
    """
    m, n = _check_shape(m, n)
    return as_rng(rng).standard_normal((m, n)) * np.sqrt(2.0 / m)   # σ² = 2/m  (deck 001)


def glorot_uniform(m, n, rng=None):
    """Glorot (normalised) uniform initialisation W_ij ~ U(−a, a), a = √(6/(m+n)) (deck 001).

    Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
    networks", eq. 16: a compromise between keeping the forward activations' variance
    (Var W = 1/m) and the backward gradients' variance (Var W = 1/n): Var W = 2/(m+n).  A
    uniform U(−a, a) has variance a²/3, hence a = √(6/(m+n)).

    Inputs:
    - m: fan-in; n: fan-out.
    - rng: Generator, int seed or None.

    Returns:
    - W: float64 array of shape (m, n), every entry in [−a, a).
    """
    m, n = _check_shape(m, n)
    a = np.sqrt(6.0 / (m + n))                                       # a = √(6/(m+n)) (deck 001)
    return as_rng(rng).uniform(-a, a, size=(m, n))


def constant(n, value=0.0):
    """A bias vector filled with ``value``, shape (n,).

    Biases need no symmetry breaking (the weights already do it), so deck 001 initialises them
    to a constant.  Default 0.0, the usual choice for hidden units (deck 001).

    Returns:
    - b: float64 array of shape (n,).
    """
    if int(n) != n or n < 1:
        raise ValueError(f"constant: n must be a positive integer, got {n}")
    return np.full(int(n), float(value), dtype=np.float64)


def relu_bias(n, value=0.1):
    """Bias for ReLU units, shape (n,): a small positive constant.

    Deck 001 suggests 0.1 rather than 0 for ReLU hidden units, so they start in the active
    region and receive gradient from the first step (default 0.1, deck 001).

    Returns:
    - b: float64 array of shape (n,).
    """
    return constant(n, value)


#: Weight initialisers by name (all take ``(m, n, rng=None)``).
INITIALIZERS = {
    "zeros": zeros,
    "normal": normal,
    "xavier": xavier,
    "lecun_normal": lecun_normal,
    "he": he,
    "glorot_uniform": glorot_uniform,
}
