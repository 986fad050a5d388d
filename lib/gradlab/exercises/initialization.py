"""The tests of 05_initialization: ``xavier``, ``he``, ``glorot_uniform``, ``sparse_init`` and
``output_bias``.

How a random array is judged: a sample of N numbers drawn from a distribution with variance v has
a sample variance that scatters around v with standard error v · sqrt((κ − 1)/N), κ the kurtosis
(3 for a Gaussian, 1.8 for a uniform); its mean scatters with standard error sqrt(v/N).  A correct
initializer lands within :data:`Z` = 5 standard errors except with probability < 1e-6; every seed
the tests use is fixed, so a test gives the same verdict on every run.
"""

from __future__ import annotations

import numpy as np

from .. import checks
from .. import init as ref

FORBID = (ref,)
Z = 5.0


def check_sample(W, var, name, kurtosis=3.0, wrong=None):
    """The sample variance and mean of ``W`` against ``var`` and 0; ``wrong`` maps a hint to the
    variance of a typical mistake, named when the sample matches it instead."""
    __tracebackhide__ = True
    W = np.asarray(W, dtype=float)
    N = W.size
    s2 = W.var()
    if abs(s2 - var) > Z * var * np.sqrt((kurtosis - 1) / N):
        for hint, v in (wrong or {}).items():       # a typical mistake that explains the variance?
            if abs(s2 - v) <= Z * v * np.sqrt((kurtosis - 1) / N):
                raise checks.CheckFailure(
                    f"{name}: sample variance {s2:.4g} matches {v:.4g}, not {var:.4g} — {hint}",
                    "known-mistake")
        raise checks.CheckFailure(
            f"{name}: sample variance {s2:.4g}, expected {var:.4g} ± {Z * var * np.sqrt((kurtosis - 1) / N):.2g} "
            f"(5 standard errors for {N} entries)", "mismatch")
    if abs(W.mean()) > Z * np.sqrt(var / N):
        raise checks.CheckFailure(
            f"{name}: sample mean {W.mean():.4g}, expected 0 ± {Z * np.sqrt(var / N):.2g} — weights "
            "are drawn around 0", "mismatch")


def check_array(W, shape, name):
    """A float64 array of ``shape``."""
    __tracebackhide__ = True
    if W is None:
        raise checks.CheckFailure(f"{name} returned None — did you forget `return`?", "none")
    W = np.asarray(W)
    if W.shape != tuple(shape):
        hint = " — transposed? W has one row per input (fan-in m) and one column per unit" \
            if W.shape == tuple(shape)[::-1] else ""
        raise checks.CheckFailure(f"{name}: expected shape {tuple(shape)}, got {W.shape}{hint}", "shape")
    if W.dtype != np.float64:
        raise checks.CheckFailure(f"{name}: expected float64 entries, got {W.dtype}", "dtype")


def seeded(initializer, name):
    """``initializer(m, n, rng)`` as ``f(m, n, seed)``: the tests hand the student's function a
    fresh generator from a seed, and the library the same one."""
    def draw(m, n, seed):
        return initializer(m, n, np.random.default_rng(seed))
    draw.__name__, draw.__wrapped__ = name, initializer
    return draw


# -- xavier and he --------------------------------------------------------------------------------

def xavier_ref(m, n, seed):
    return ref.xavier(m, n, rng=seed)


def he_ref(m, n, seed):
    return ref.he(m, n, rng=seed)


XAVIER_MISTAKES = {
    "that is He's N(0, 2/m); Xavier's variance is 1/m (He and Xavier swapped?)": he_ref,
    "that is N(0, 1/n): the variance must divide by the fan-in m (rows), not the fan-out n":
        lambda m, n, seed: ref.xavier(m, n, rng=seed) * np.sqrt(m / n),
}
HE_MISTAKES = {
    "that is Xavier's N(0, 1/m); He's variance is 2/m (He and Xavier swapped?)": xavier_ref,
    "that is N(0, 2/n): the variance must divide by the fan-in m (rows), not the fan-out n":
        lambda m, n, seed: ref.he(m, n, rng=seed) * np.sqrt(m / n),
}


def check_xavier_he(xavier, he, m, n, seed, rng_label="rng"):
    """Both initializers on one shape and seed, against the library's draws from the same generator."""
    __tracebackhide__ = True
    for fn, name, reference, wrong in [(xavier, "xavier", xavier_ref, XAVIER_MISTAKES),
                                       (he, "he", he_ref, HE_MISTAKES)]:
        call = f"{name}({m}, {n}, {rng_label})"
        W = checks.compare(seeded(fn, name), reference, m, n, seed, name=call, rtol=1e-12, atol=0, forbid=FORBID,
                           mistakes=wrong)
        check_array(W, (m, n), call)


# -- glorot_uniform -------------------------------------------------------------------------------

def glorot_ref(m, n, seed):
    return ref.glorot_uniform(m, n, rng=seed)


GLOROT_MISTAKES = {
    "that is U(±sqrt(3/(m+n))): the bound is sqrt(6/(m+n)) — the variance r²/3 must be 2/(m+n)":
        lambda m, n, seed: ref.glorot_uniform(m, n, rng=seed) / np.sqrt(2),
    "that is U(±sqrt(6/m)): Glorot's bound uses fan-in and fan-out, sqrt(6/(m+n))":
        lambda m, n, seed: ref.glorot_uniform(m, n, rng=seed) * np.sqrt((m + n) / m),
}


def check_glorot(glorot_uniform, m, n, seed, name):
    __tracebackhide__ = True
    W = checks.compare(seeded(glorot_uniform, "glorot_uniform"), glorot_ref, m, n, seed, name=name,
                       rtol=1e-12, atol=0, forbid=FORBID, mistakes=GLOROT_MISTAKES)
    check_array(W, (m, n), f"glorot_uniform({m}, {n}, rng)")
    return W


# -- sparse_init ----------------------------------------------------------------------------------

def check_sparse(W, m, n, k, name):
    """Exactly ``k`` non-zero weights per unit (column), not all in the same rows."""
    __tracebackhide__ = True
    check_array(W, (m, n), name)
    per_unit = np.count_nonzero(W, axis=0)
    if not np.all(per_unit == k):
        j = int(np.argmax(per_unit != k))
        raise checks.CheckFailure(f"{name}: unit (column) {j} has {per_unit[j]} non-zero weights, expected "
                                  f"exactly k = {k} — choose k rows without replacement for every column",
                                  "mismatch")
    if n > 1 and k < m and all(np.array_equal(W[:, 0] != 0, W[:, j] != 0) for j in range(1, n)):
        raise checks.CheckFailure(f"{name}: every unit has its non-zero weights in the same rows — draw a "
                                  "new set of rows for each unit (column)", "known-mistake")


# -- output_bias ----------------------------------------------------------------------------------

def output_bias_ref(y, K):
    y = np.asarray(y)
    return np.log(np.bincount(y, minlength=K) / y.size)


BIAS_MISTAKES = {
    "those are the frequencies p_c themselves; the bias is their logarithm, b_c = log p_c":
        lambda y, K: np.bincount(np.asarray(y), minlength=K) / np.asarray(y).size,
    "those are the counts N_c; the bias is log(N_c / N)":
        lambda y, K: np.bincount(np.asarray(y), minlength=K).astype(float),
    "that is log N_c; divide the counts by N first, b_c = log(N_c / N)":
        lambda y, K: np.log(np.bincount(np.asarray(y), minlength=K)),
}


def not_a_known_mistake(got, y, K, name):
    """Fail with the mistake's hint when ``got`` is the frequencies or the counts of ``y``."""
    __tracebackhide__ = True
    for hint in list(BIAS_MISTAKES)[:2]:
        wrong = BIAS_MISTAKES[hint](y, K)
        if got is not None and np.shape(got) == np.shape(wrong) and np.allclose(got, wrong):
            raise checks.CheckFailure(f"{name} = {np.round(got, 4)}: {hint}", "known-mistake")
