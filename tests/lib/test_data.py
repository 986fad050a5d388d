"""Tests for gradlab.data.

Oracles: the published description of the UCI optical-digits test set as bundled by
scikit-learn (1797 samples, 64 features with integer values 0..16, 10 classes of about 180
each), the raw loader itself for the scaling, set algebra for the splits, and the generating
formulas of the synthetic sets.
"""

import numpy as np
import pytest

from gradlab import data
from gradlab.data import digits, linear_regression, one_hot, spirals, split, two_moons


@pytest.fixture(scope="module")
def digits_xy():
    return digits()


def test_digits_shapes_dtypes_ranges(digits_xy):
    X, y = digits_xy
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    # pixel counts 0..16 divided by 16: every value is a multiple of 1/16
    np.testing.assert_array_equal(X * 16, np.round(X * 16))


def test_digits_classes(digits_xy):
    _, y = digits_xy
    counts = np.bincount(y)
    assert len(counts) == 10 and counts.sum() == 1797
    assert counts.min() >= 170 and counts.max() <= 190      # ≈ 180 per class (UCI description)


def test_digits_matches_raw_loader(digits_xy):
    from sklearn.datasets import load_digits

    raw = load_digits()
    X, y = digits_xy
    np.testing.assert_array_equal(X * 16.0, raw.data)
    np.testing.assert_array_equal(y, raw.target)
    # the images are the rows reshaped 8×8
    np.testing.assert_array_equal(X[5].reshape(8, 8) * 16, raw.images[5])


@pytest.mark.parametrize("n, frac", [(10, 0.2), (1797, 0.2), (101, 0.33), (5, 0.01)])
def test_split_disjoint_cover_and_sizes(n, frac):
    X = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    y = np.arange(n)                                      # labels identify the rows
    X0, y0 = X.copy(), y.copy()
    Xtr, Xte, ytr, yte = split(X, y, test_fraction=frac, seed=1)
    assert len(yte) == max(1, int(np.ceil(frac * n)))
    assert len(ytr) + len(yte) == n
    assert set(ytr).isdisjoint(yte) and set(ytr) | set(yte) == set(range(n))
    np.testing.assert_array_equal(Xtr, X[ytr])            # rows travel with their labels
    np.testing.assert_array_equal(Xte, X[yte])
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_split_reproducible_and_seed_dependent():
    X = np.random.default_rng(0).standard_normal((50, 2))
    y = np.arange(50)
    a = split(X, y, seed=3)
    b = split(X, y, seed=3)
    c = split(X, y, seed=4)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(a[3], c[3])
    assert not np.array_equal(np.sort(a[3]), np.arange(10))   # shuffled, not the first rows


def test_split_stratified_keeps_proportions(digits_xy):
    X, y = digits_xy
    Xtr, Xte, ytr, yte = split(X, y, test_fraction=0.2, seed=0, stratify=True)
    counts, test_counts = np.bincount(y), np.bincount(yte, minlength=10)
    np.testing.assert_array_equal(test_counts, np.ceil(0.2 * counts).astype(int))
    np.testing.assert_array_equal(np.bincount(ytr, minlength=10) + test_counts, counts)
    assert Xtr.shape[0] + Xte.shape[0] == 1797


def test_split_errors():
    X, y = np.zeros((10, 2)), np.zeros(10)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError):
            split(X, y, test_fraction=bad)
    with pytest.raises(ValueError):
        split(X, y[:9])


@pytest.mark.parametrize("k", [2, 3, 10])
def test_one_hot_round_trip(k):
    y = np.random.default_rng(k).integers(0, k, 40)
    Y = one_hot(y, k)
    assert Y.shape == (40, k) and Y.dtype == np.float64
    np.testing.assert_array_equal(Y.sum(axis=1), 1.0)
    np.testing.assert_array_equal(Y.argmax(axis=1), y)
    np.testing.assert_array_equal(Y[np.arange(40), y], 1.0)


def test_one_hot_default_k_and_errors():
    np.testing.assert_array_equal(one_hot([0, 2]), [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(one_hot([1], 4), [[0, 1, 0, 0]])
    assert one_hot(np.array([], dtype=int), 3).shape == (0, 3)
    with pytest.raises(ValueError):
        one_hot([0, 3], 3)
    with pytest.raises(ValueError):
        one_hot([-1, 0])
    with pytest.raises(ValueError):
        one_hot([0.5, 1])
    with pytest.raises(ValueError):
        one_hot(np.zeros((2, 2), dtype=int))


@pytest.mark.parametrize("n", [1, 2, 7, 200])
def test_two_moons(n):
    X, y = two_moons(n, noise=0.0, seed=0)
    assert X.shape == (n, 2) and y.shape == (n,) and y.dtype == np.int64
    assert np.sum(y == 0) == (n + 1) // 2
    # without noise: class 0 on the unit upper arc at the origin, class 1 on the lower arc at (1, ½)
    up, lo = X[y == 0], X[y == 1] - [1.0, 0.5]
    np.testing.assert_allclose(np.hypot(*up.T), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.hypot(*lo.T), 1.0, rtol=1e-14)
    assert np.all(up[:, 1] >= 0) and np.all(lo[:, 1] <= 1e-15)


def test_two_moons_seeded_and_noisy():
    a, b, c = two_moons(100, 0.1, seed=5), two_moons(100, 0.1, seed=5), two_moons(100, 0.1, seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    X0, y0 = two_moons(2000, 0.0, seed=1)
    X1, y1 = two_moons(2000, 0.1, seed=1)
    # noise of σ = 0.1 per coordinate: distance to the arc circle has std ≈ 0.1
    centers = np.where(y1[:, None] == 0, [0.0, 0.0], [1.0, 0.5])
    r = np.hypot(*(X1 - centers).T) - 1.0
    assert 0.09 < r.std() < 0.11


@pytest.mark.parametrize("n, k", [(300, 3), (100, 2), (101, 4)])
def test_spirals(n, k):
    X, y = spirals(n, k, noise=0.0, seed=0)
    assert X.shape == (n, 2) and y.shape == (n,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=k)
    assert counts.sum() == n and counts.max() - counts.min() <= 1
    r = np.hypot(*X.T)
    assert r.max() <= 1 + 1e-12
    # without noise each point satisfies θ = 4 r + 2π c / k (mod 2π)
    theta = np.arctan2(X[:, 1], X[:, 0])
    expected = 4 * r + 2 * np.pi * y / k
    diff = np.angle(np.exp(1j * (theta - expected)))
    np.testing.assert_allclose(diff[r > 1e-9], 0.0, atol=1e-9)
    with pytest.raises(ValueError):
        spirals(10, 1)


def test_spirals_seeded():
    a, b = spirals(60, 3, 0.2, seed=2), spirals(60, 3, 0.2, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], spirals(60, 3, 0.2, seed=3)[0])


@pytest.mark.parametrize("n, d", [(100, 1), (500, 3), (50, 10)])
def test_linear_regression(n, d):
    X, y, w, b = linear_regression(n, d, noise=0.0, seed=1, b=0.7)
    assert X.shape == (n, d) and y.shape == (n,) and w.shape == (d,)
    np.testing.assert_allclose(y, X @ w + 0.7, rtol=1e-13)
    X2, y2, w2, _ = linear_regression(n, d, noise=0.0, seed=1, b=0.7)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(w, w2)


def test_linear_regression_noise_and_given_weights():
    n, sigma = 4000, 0.5
    X, y, w, b = linear_regression(n, 2, noise=sigma, seed=3, w=[2.0, -1.0], b=1.0)
    np.testing.assert_array_equal(w, [2.0, -1.0])
    res = y - (X @ w + b)
    # residual std within 5 SE of σ (SE of the sample std ≈ σ/√(2n))
    assert abs(res.std(ddof=1) - sigma) < 5 * sigma / np.sqrt(2 * n)
    # least squares recovers the weights to within a few standard errors (σ/√n per coefficient)
    coef, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(n)]), y, rcond=None)
    np.testing.assert_allclose(coef, [2.0, -1.0, 1.0], atol=5 * sigma / np.sqrt(n))


def test_module_header_documents_provenance():
    doc = data.__doc__
    assert "UCI" in doc and "BSD-3" in doc and "scikit-learn" in doc


def test_shifted_copies_move_every_pixel_by_one_and_blank_the_edge():
    rng = np.random.default_rng(0)
    X = rng.integers(1, 17, size=(3, 64)).astype(float)      # no zero pixel: blanks are the edge
    y = np.array([4, 7, 1])
    X_more, y_more = data.shifted_copies(X, y)
    assert X_more.shape == (15, 64) and y_more.tolist() == [4, 7, 1] * 5
    img = X.reshape(3, 8, 8)
    down, up, right, left = (X_more[3 * k:3 * k + 3].reshape(3, 8, 8) for k in range(1, 5))
    np.testing.assert_array_equal(X_more[:3], X)
    for n in range(3):
        for i in range(8):
            for j in range(8):                             # pixel (i, j) of each copy, by hand
                assert down[n, i, j] == (img[n, i - 1, j] if i > 0 else 0)
                assert up[n, i, j] == (img[n, i + 1, j] if i < 7 else 0)
                assert right[n, i, j] == (img[n, i, j - 1] if j > 0 else 0)
                assert left[n, i, j] == (img[n, i, j + 1] if j < 7 else 0)


def test_shifted_copies_leave_the_input_alone_and_refuse_other_shapes():
    X, y = data.digits()
    X0 = X[:10].copy()
    data.shifted_copies(X[:10], y[:10])
    np.testing.assert_array_equal(X[:10], X0)
    with pytest.raises(ValueError, match="64"):
        data.shifted_copies(np.zeros((2, 63)), np.zeros(2))
