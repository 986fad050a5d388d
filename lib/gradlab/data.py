"""Small data sets for the course, all available offline.

Deck 000 trains with (mini-batch) SGD over a data set D; deck 004 averages the cost over the
training inputs and iterates over mini-batches and epochs.  The notebooks need a few small,
deterministic data sets for that — nothing here touches the network.

Provenance and licence
----------------------
* :func:`digits` — the test set of the *Optical Recognition of Handwritten Digits* data set of
  the UCI Machine Learning Repository (Alpaydin & Kaynak, 1998; 1797 images of 8×8 pixels,
  each pixel a count 0..16 of set pixels in a 4×4 block of the original 32×32 bitmap, 10
  classes).  It is the copy bundled inside scikit-learn (``sklearn.datasets.load_digits``),
  distributed under scikit-learn's BSD-3-Clause licence; no download is made.
* :func:`two_moons`, :func:`spirals`, :func:`linear_regression` — synthetic, generated here from
  a seed; they belong to the course.
"""

from __future__ import annotations

import numpy as np

from gradlab.init import as_rng

__all__ = ["digits", "shifted_copies", "split", "one_hot", "two_moons", "spirals", "linear_regression"]


def digits():
    """scikit-learn's bundled handwritten digits, scaled to [0, 1].

    Returns a tuple of:
    - X: float64 array of shape (1797, 64): the 8×8 images flattened row by row, pixel / 16
      (the raw values are integer counts 0..16).
    - y: int64 array of shape (1797,): the digit 0..9 shown in each image (about 180 per class).
    """
    from sklearn.datasets import load_digits   # imported lazily: scikit-learn is slow to import

    bunch = load_digits()
    X = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    return X, y


def shifted_copies(X, y):
    """The digits of X and four copies moved by one pixel (down, up, right, left): more data.

    Moving a digit by a pixel does not change which digit it is, so each shifted copy is a new
    training example with the same label (data augmentation).  The row or column that moves in
    is blank (0), not wrapped around from the other edge.

    Inputs:
    - X: (N, 64) 8×8 images flattened row by row (as :func:`digits` returns them)
    - y: (N,) labels

    Returns a tuple of:
    - X_more: (5N, 64) the originals first, then one block of N per shift, in the order
      down, up, right, left
    - y_more: (5N,) the labels, repeated in the same order
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 64:
        raise ValueError(f"shifted_copies: X must hold 8×8 images as rows of 64, got shape {X.shape}")
    images = X.reshape(-1, 8, 8)
    copies = [images]
    for axis, step in [(1, 1), (1, -1), (2, 1), (2, -1)]:
        moved = np.roll(images, step, axis=axis)
        edge = 0 if step == 1 else -1              # np.roll wraps around: blank what came in
        if axis == 1:
            moved[:, edge, :] = 0
        else:
            moved[:, :, edge] = 0
        copies.append(moved)
    return np.concatenate(copies).reshape(-1, 64), np.tile(np.asarray(y), len(copies))


def split(X, y, test_fraction=0.2, seed=0, stratify=False):
    """Seeded random train/test split (like scikit-learn's ``train_test_split``).

    Inputs:
    - X: array of shape (N, ...); y: array of shape (N, ...), same N.
    - test_fraction: share of the samples put in the test set, 0 < f < 1; the test set gets
      ⌈f·N⌉ samples (at least one).  Default 0.2, the usual 80/20 split.
    - seed: int seed or Generator for the shuffle.  Default 0, so the split is reproducible.
    - stratify: if True, split each class of ``y`` separately (⌈f·N_c⌉ test samples per class)
      so the class proportions are (nearly) the same in both parts.

    Returns a tuple of (copies, the inputs are not modified):
    - X_train, X_test, y_train, y_test; the train and test indices are disjoint and together
      cover every sample exactly once.
    """
    X, y = np.asarray(X), np.asarray(y)
    n = len(X)
    if len(y) != n:
        raise ValueError(f"split: X has {n} samples but y has {len(y)}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"split: test_fraction must be strictly between 0 and 1, "
                         f"got {test_fraction}")
    if n < 2:
        raise ValueError(f"split: need at least 2 samples, got {n}")
    rng = as_rng(seed)
    if stratify:
        test_parts = []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            test_parts.append(idx[:int(np.ceil(test_fraction * len(idx)))])
        test = np.sort(np.concatenate(test_parts))
        mask = np.zeros(n, dtype=bool)
        mask[test] = True
        train = rng.permutation(np.flatnonzero(~mask))
        test = rng.permutation(test)
    else:
        n_test = min(max(1, int(np.ceil(test_fraction * n))), n - 1)
        perm = rng.permutation(n)
        test, train = perm[:n_test], perm[n_test:]
    return X[train], X[test], y[train], y[test]


def one_hot(y, k=None):
    """One-hot encode integer labels.

    Inputs:
    - y: integer labels of shape (N,), each in 0..k−1.
    - k: number of classes.  Default ``max(y) + 1``.

    Returns:
    - Y: float64 array of shape (N, k), Y[i, y[i]] = 1 and 0 elsewhere; ``Y.argmax(1)``
      gives ``y`` back.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"one_hot: y must be a 1-D array of labels, got shape {y.shape}")
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("one_hot: labels must be whole numbers 0..k-1")
    y = y.astype(np.int64)
    if k is None:
        k = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"one_hot: labels must lie in 0..{k - 1}, "
                         f"got values from {y.min()} to {y.max()}")
    Y = np.zeros((y.size, k), dtype=np.float64)
    Y[np.arange(y.size), y] = 1.0
    return Y


def two_moons(n=200, noise=0.1, seed=0):
    """Two interleaved half circles — a classic set that no straight line separates.

    Class 0 lies on the upper half circle of radius 1 centred at (0, 0), class 1 on the lower
    half circle centred at (1, 0.5); Gaussian noise of standard deviation ``noise`` is added to
    both coordinates.

    Inputs:
    - n: total number of points (class 0 gets ⌈n/2⌉, class 1 the rest).
    - noise: standard deviation of the added noise (0 gives points exactly on the arcs).
    - seed: int seed or Generator.

    Returns a tuple of:
    - X: float64 array of shape (n, 2).
    - y: int64 array of shape (n,), labels 0 / 1, in a shuffled order.
    """
    rng = as_rng(seed)
    n0 = (n + 1) // 2
    n1 = n - n0
    a0 = rng.uniform(0.0, np.pi, n0)
    a1 = rng.uniform(0.0, np.pi, n1)
    upper = np.column_stack([np.cos(a0), np.sin(a0)])
    lower = np.column_stack([1.0 - np.cos(a1), 0.5 - np.sin(a1)])
    X = np.vstack([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    perm = rng.permutation(n)
    return X[perm], y[perm]


def spirals(n=300, k=3, noise=0.2, seed=0):
    """``k`` interleaved spiral arms in the plane, one class per arm.

    Point j of arm c sits at radius r = j / (m − 1) ∈ [0, 1] and angle
    θ = 4 r + 2π c / k (plus Gaussian noise of standard deviation ``noise`` on θ), where m is
    the arm's number of points.  A linear classifier gets about 1/k of them right; a small MLP
    separates them — the notebooks' first non-linear task.

    Inputs:
    - n: total number of points (split as evenly as possible across arms).
    - k: number of arms / classes (>= 2).
    - noise: standard deviation of the angular noise, in radians.
    - seed: int seed or Generator.

    Returns a tuple of:
    - X: float64 array of shape (n, 2), every point in the unit disc.
    - y: int64 array of shape (n,), labels 0..k−1.
    """
    if k < 2:
        raise ValueError(f"spirals: need at least 2 arms, got k={k}")
    rng = as_rng(seed)
    sizes = [n // k + (1 if c < n % k else 0) for c in range(k)]
    Xs, ys = [], []
    for c, m in enumerate(sizes):
        r = np.linspace(0.0, 1.0, m)
        theta = 4.0 * r + 2.0 * np.pi * c / k + noise * rng.standard_normal(m)
        Xs.append(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
        ys.append(np.full(m, c, dtype=np.int64))
    return np.vstack(Xs), np.concatenate(ys)


def linear_regression(n=100, d=1, noise=0.1, seed=0, w=None, b=0.0):
    """A synthetic linear-regression set y = X w + b + noise.

    Inputs:
    - n: number of samples; d: number of features.
    - noise: standard deviation of the Gaussian noise added to y.
    - seed: int seed or Generator.
    - w: true weights, shape (d,).  Default: drawn from N(0, 1) with the same seed.
    - b: true intercept.  Default 0.0.

    Returns a tuple of:
    - X: float64 array of shape (n, d), entries drawn from N(0, 1).
    - y: float64 array of shape (n,).
    - w: the true weights used, float64 array of shape (d,).
    - b: the true intercept used (float).
    """
    rng = as_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d) if w is None else np.asarray(w, dtype=np.float64).reshape(d)
    y = X @ w + float(b) + noise * rng.standard_normal(n)
    return X, y, w, float(b)
