"""Loss functions, each returning ``(loss, dscores)``.

Mirrors the losses the decks use: deck 002's half sum of squared errors
E = 1/2 sum (y - t)^2 whose output error is simply delta = y - t; the mean squared error of
deck 003 (E = 1/N sum_n sum_k (o_nk - d_nk)^2) and deck 000 (||y_hat - y||^2 per example);
deck 001's logistic-regression loss -y log p - (1 - y) log(1 - p); and softmax cross-entropy,
which deck 004 recommends over MSE for classification.

Every loss takes the network's outputs ("scores" or "pred", shape (N, K) with one row per
example) and the targets, and returns

- loss: a float
- dscores: dloss/dscores, same shape as the scores (BP1's nabla_a C for a linear output)

The classification losses fold the output non-linearity in: ``softmax_cross_entropy`` takes
raw scores z (not probabilities) and returns dC/dz = (softmax(z) - onehot) / N, and
``logistic_loss`` takes raw scores z and returns (sigmoid(z) - y) / N.  Computing them from z
with log-sum-exp never takes log(0) nor overflows.
"""

from __future__ import annotations

import numpy as np

from gradlab.activations import sigmoid

__all__ = [
    "LOSSES", "softmax", "log_softmax",
    "half_sse", "mse", "softmax_cross_entropy", "logistic_loss",
]


def softmax(x, axis=-1):
    """Softmax along ``axis``, stable: exp(x - max) / sum exp(x - max).

    Subtracting the maximum changes nothing mathematically (softmax is invariant to adding a
    constant to every score) and keeps every exponent <= 0, so nothing overflows.

    Inputs:
    - x: array, e.g. (N, K) scores

    Returns:
    - same shape, non-negative, summing to 1 along ``axis``
    """
    x = np.asarray(x, dtype=float)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """log(softmax(x)) along ``axis`` via log-sum-exp: x - max - log sum exp(x - max).

    Unlike ``np.log(softmax(x))`` this stays finite when a probability underflows to 0.
    """
    x = np.asarray(x, dtype=float)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def half_sse(pred, target):
    """Half the sum of squared errors, E = 1/2 sum_n sum_k (y_nk - t_nk)^2  (deck 002).

    Summed -- not averaged -- over the batch, so that the output error is exactly deck 002's
    delta_k = y_k - t_k.  Divide by N yourself for a per-example average (that is :func:`mse`
    up to the factor 1/2).

    Inputs:
    - pred: (N, K) network outputs y (any shape works)
    - target: same shape, targets t

    Returns:
    - loss: float
    - dpred: same shape, dE/dy = y - t
    """
    diff = pred - target
    return 0.5 * float((diff * diff).sum()), diff


def mse(pred, target):
    """Mean squared error over the N examples: E = 1/N sum_n ||y_n - t_n||^2  (deck 003, deck 000).

    Summed over the K outputs of an example (deck 000's ||y_hat - y||^2), averaged over the
    examples (deck 003's 1/N sum_n).  Note that scikit-learn's ``mean_squared_error`` also
    averages over K; for K = 1 the two agree.

    Inputs:
    - pred: (N, K) outputs (or (N,) for one output)
    - target: same shape

    Returns:
    - loss: float
    - dpred: same shape, dE/dy = 2 (y - t) / N
    """
    N = pred.shape[0]
    diff = pred - target
    return float((diff * diff).sum()) / N, (2.0 / N) * diff


def softmax_cross_entropy(scores, labels):
    """Softmax followed by cross-entropy, averaged over the batch.

        p_n  = softmax(z_n)
        loss = -1/N sum_n log p_{n, y_n}
             = 1/N sum_n ( logsumexp(z_n) - z_{n, y_n} )
        dloss/dz_n = (p_n - onehot(y_n)) / N

    Inputs:
    - scores: (N, K) raw scores z (logits), any real values
    - labels: (N,) integer class labels in 0..K-1

    Returns:
    - loss: float
    - dscores: (N, K)
    """
    N = scores.shape[0]
    rows = np.arange(N)
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    sum_e = e.sum(axis=1, keepdims=True)
    # -log p_{n, y_n} = log sum_k e^(z_nk - max) - (z_{n, y_n} - max)
    loss = float(np.log(sum_e).sum() - shifted[rows, labels].sum()) / N
    dscores = e / sum_e                                   # p = softmax(z)
    dscores[rows, labels] -= 1.0                          # p - onehot(y)
    dscores /= N
    return loss, dscores


def logistic_loss(scores, labels):
    """Binary logistic (cross-entropy) loss on raw scores, averaged over the batch.

    With p = sigmoid(z) and y in {0, 1} (deck 001's logistic regression):
        -y log p - (1 - y) log(1 - p) = log(1 + e^z) - y z = logaddexp(0, z) - y z,
    which ``np.logaddexp`` evaluates without overflow for any z.
        dloss/dz = (sigmoid(z) - y) / N

    Inputs:
    - scores: (N,) or (N, 1) raw scores z
    - labels: (N,) or the same shape as scores, values 0 or 1

    Returns:
    - loss: float
    - dscores: same shape as scores
    """
    N = scores.shape[0]
    y = np.reshape(labels, scores.shape)
    loss = float((np.logaddexp(0.0, scores) - y * scores).sum()) / N
    dscores = (sigmoid(scores) - y) / N
    return loss, dscores


# name -> loss function (pred/scores, targets/labels) -> (loss, dscores)
LOSSES = {
    "half_sse": half_sse,
    "mse": mse,
    "softmax_cross_entropy": softmax_cross_entropy,
    "logistic_loss": logistic_loss,
}
