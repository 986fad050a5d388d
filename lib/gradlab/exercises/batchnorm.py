"""The tests of 06_batchnorm: ``standardize``, ``batchnorm_forward`` (train and test mode, the
running averages it stores) and ``batchnorm_backward`` (each gradient on its own)."""

from __future__ import annotations

import copy

import numpy as np

from .. import calculus, checks
from .. import layers as ref

FORBID = (ref,)


# -- standardize ----------------------------------------------------------------------------------

def standardize_parts(standardize):
    """The two returned arrays, checked one at a time: (training set, test set)."""
    return checks.part(standardize, 0, name="standardize"), checks.part(standardize, 1, name="standardize")


def standardize_ref(X_train, X_test):
    centre, spread = X_train.mean(axis=0), X_train.std(axis=0)
    spread[spread == 0] = 1.0
    return (X_train - centre) / spread, (X_test - centre) / spread


def own_stats(X_train, X_test):
    m, s = X_test.mean(axis=0), X_test.std(axis=0)
    return (X_test - m) / np.where(s == 0, 1.0, s)


TEST_SET_MISTAKES = {
    "the test set was standardized with its own statistics; use the training set's mean and std for both": own_stats,
    "the training set's variance was used where its standard deviation belongs":
        lambda a, b: (b - a.mean(0)) / np.where(a.std(0) == 0, 1.0, a.var(0)),
}


# -- batchnorm_forward ----------------------------------------------------------------------------

def forward_out(batchnorm_forward):
    """The output alone, on a private copy of bn_param."""
    return checks.part(lambda x, gamma, beta, bn_param: batchnorm_forward(x, gamma, beta, copy.deepcopy(bn_param)),
                       0, name="batchnorm_forward", wraps=batchnorm_forward)


def library_out(x, gamma, beta, bn_param):
    return ref.batchnorm_forward(x, gamma, beta, copy.deepcopy(bn_param))[0]


def stored(forward, x, gamma, beta, bn_param, forbid=()):
    """What ``forward`` leaves in (a copy of) ``bn_param``; ``forbid``: what it must not call."""
    p = copy.deepcopy(bn_param)
    with checks.tripwire(*forbid):
        forward(x.copy(), gamma.copy(), beta.copy(), p)
    return p


def per_example(x, gamma, beta, bn_param):      # the statistics over the wrong axis: each row
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + bn_param.get("eps", 1e-5)) + beta


AXIS_MISTAKES = {"each example (row) was normalized over its features — batch norm averages over the batch, "
                 "axis 0, one mean and variance per feature (column)": per_example}


def check_train_then_test(batchnorm_forward, x, gamma, beta, bn_param, x_test, label):
    """Train mode: the output, then the running averages it stores; test mode with those: they
    are used, and come back unchanged."""
    __tracebackhide__ = True
    mine_out = forward_out(batchnorm_forward)
    checks.compare(mine_out, library_out, x, gamma, beta,
                   dict(bn_param, mode="train"), name=f"batchnorm_forward({label}, mode='train')",
                   rtol=1e-9, atol=1e-12, forbid=FORBID, mistakes=AXIS_MISTAKES)
    mine = stored(batchnorm_forward, x, gamma, beta, dict(bn_param, mode="train"), forbid=FORBID)
    want = stored(ref.batchnorm_forward, x, gamma, beta, dict(bn_param, mode="train"))
    for key in ("running_mean", "running_var"):
        given = bn_param.get(key)
        if mine.get(key) is None or (given is not None and np.array_equal(mine[key], given)):
            raise checks.CheckFailure(f"bn_param[{key!r}] is {'missing' if mine.get(key) is None else 'unchanged'} "
                                      f"after mode='train' ({label})", "state-write",
                                      hint="in train mode, store the updated running averages in bn_param")
        checks.assert_close(mine.get(key), want[key], name=f"bn_param[{key!r}] after mode='train' ({label})",
                            rtol=1e-9, atol=1e-12)
    trained = dict(want, mode="test")
    after = stored(batchnorm_forward, x_test, gamma, beta, trained, forbid=FORBID)
    for key in ("running_mean", "running_var"):
        if after.get(key) is None or not np.array_equal(after[key], trained[key]):
            raise checks.CheckFailure(
                f"batchnorm_forward({label}, mode='test') changed bn_param[{key!r}] — at test time the running "
                "averages are used, never updated (only mode='train' updates them)", "known-mistake")
    checks.compare(mine_out, library_out, x_test, gamma, beta, trained,
                   name=f"batchnorm_forward({label}, mode='test')", rtol=1e-9, atol=1e-12, forbid=FORBID)


# -- batchnorm_backward ---------------------------------------------------------------------------

def backward_part(batchnorm_backward, i):
    """The i-th returned gradient (dx, dgamma, dbeta) alone."""
    return checks.part(batchnorm_backward, i, name="batchnorm_backward")


def library_part(i):
    def library_part(dout, cache):
        return ref.batchnorm_backward(dout, cache)[i]
    return library_part


def no_variance_path(dout, cache):
    mode, x_hat, gamma, s = cache
    g = dout * gamma
    return s / len(g) * (len(g) * g - g.sum(axis=0))


def no_mean_path(dout, cache):
    mode, x_hat, gamma, s = cache
    g = dout * gamma
    return s / len(g) * (len(g) * g - x_hat * (g * x_hat).sum(axis=0))


def direct_path_only(dout, cache):
    mode, x_hat, gamma, s = cache
    return dout * gamma * s


DX_MISTAKES = {
    "the path through the variance is missing: dx needs the term - x_hat * sum(g * x_hat)": no_variance_path,
    "the path through the mean is missing: dx needs the term - sum(g)": no_mean_path,
    "that is the test-mode gradient g * inv_std; in train mode x also reaches x_hat through mu and var":
        direct_path_only,
}


def numeric_grads(x, gamma, beta, dout, eps=1e-5):
    """Central differences of L = sum(dout * batchnorm(x)) in train mode (lecture 1)."""
    L = lambda x_, g_, b_: np.sum(dout * ref.batchnorm_forward(x_, g_, b_, {"mode": "train", "eps": eps})[0])  # noqa: E731
    return (calculus.numerical_gradient(lambda v: L(v, gamma, beta), x),
            calculus.numerical_gradient(lambda v: L(x, v, beta), gamma),
            calculus.numerical_gradient(lambda v: L(x, gamma, v), beta))


def check_backward(batchnorm_backward, dout, cache, label, mistakes=None):
    """dx, dgamma and dbeta of ``batchnorm_backward(dout, cache)``, each against the library's."""
    __tracebackhide__ = True
    return tuple(checks.compare(backward_part(batchnorm_backward, i), library_part(i), dout, cache,
                                name=f"{what} of batchnorm_backward({label})", rtol=1e-7, atol=1e-10, forbid=FORBID,
                                mistakes=mistakes if what == "dx" else None)
                 for i, what in enumerate(("dx", "dgamma", "dbeta")))


def check_train(batchnorm_backward, x, gamma, beta, dout, label):
    """The gradients of a train-mode forward pass of ``x``; returns (dx, dgamma, dbeta)."""
    __tracebackhide__ = True
    _, cache = ref.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    return check_backward(batchnorm_backward, dout, cache, label, mistakes=DX_MISTAKES)
