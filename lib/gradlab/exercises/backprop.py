"""The tests of 03_backprop that need more than a reference call: ``mlp_loss_and_grads`` (layer
by layer against gradlab's MLP) and ``deck003_partials``."""

from __future__ import annotations

import numpy as np

from .. import activations, checks, layers, losses, network, optim

FORBID_NETWORK = (network, layers, activations)


# -- mlp_loss_and_grads ---------------------------------------------------------------------------

def mlp_reference(X, y, Ws, bs, loss_fn, activation="sigmoid", output_activation=None):
    """gradlab's MLP with the given weights: the reference cost, gradients and deltas."""
    net = network.MLP([Ws[0].shape[0]] + [W.shape[1] for W in Ws], activation=activation, loss=loss_fn,
                      output_activation=output_activation)
    net.W, net.b = [np.array(W, dtype=float) for W in Ws], [np.array(b, dtype=float) for b in bs]
    return net.loss_and_grads(X, y, return_deltas=True)


def random_net(seed, sizes, scale=1.0):
    """(the generator, weights, biases) of a random network of ``sizes``."""
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(scale=scale / np.sqrt(m), size=(m, n)) for m, n in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(scale=0.1, size=n) for n in sizes[1:]]
    return rng, Ws, bs


def check_mlp(mlp_loss_and_grads, label, X, y, Ws, bs, loss_fn, **options):
    """Run mlp_loss_and_grads on copies (no mutation, no call to gradlab's network); compare layer by layer."""
    __tracebackhide__ = True
    want_loss, want_grads, want_deltas = mlp_reference(X, y, Ws, bs, loss_fn, **options)
    got = checks.assert_not_mutated(mlp_loss_and_grads, X, y, Ws, bs, loss_fn,
                                    _forbid=(*FORBID_NETWORK, mlp_reference), **options)
    if got is None:
        raise checks.CheckFailure(f"{label} returned None — did you forget `return`?", "none")
    if not isinstance(got, (tuple, list)) or len(got) != 3 or len(got[1]) != len(Ws) or len(got[2]) != len(Ws):
        raise checks.CheckFailure(f"{label} should return (loss, grads, deltas) with {len(Ws)} layers each, "
                                  f"got {str(got)[:80]}", "type")
    loss, grads, deltas = got
    checks.assert_close(loss, want_loss, name=f"{label}: the loss")
    for l in range(len(Ws), 0, -1):                # from the output layer down, as backprop runs
        checks.assert_close(deltas[l - 1], want_deltas[l - 1], name=f"{label}: delta^{l}")
        checks.assert_close(grads[l - 1], want_grads[l - 1], name=f"{label}: (dW^{l}, db^{l})")
    return got


# -- deck003_partials -----------------------------------------------------------------------------

def deck003_reference(X, D, W01, W12):
    """gradlab's network with deck 003's weights (no biases, sigmoid outputs, MSE)."""
    net = network.MLP([3, W01.shape[1], 2], activation="sigmoid", output_activation="sigmoid", loss="mse")
    net.W, net.b = [np.array(W01, dtype=float), np.array(W12, dtype=float)], [np.zeros(W01.shape[1]), np.zeros(2)]
    _, grads = net.loss_and_grads(X, D)
    return grads[1][0][0, 0], grads[0][0][0, 0]


def single_output(X, D, W01, W12):
    S = lambda u: 1.0 / (1.0 + np.exp(-u))  # noqa: E731
    y = S(X @ W01)
    o = S(y @ W12)
    g = 2.0 * (o - D) * o * (1.0 - o)
    return (np.mean(g[:, 0] * y[:, 0]), np.mean(g[:, 0] * W12[0, 0] * y[:, 0] * (1 - y[:, 0]) * X[:, 0]))


ONLY_K1 = {"dE/dw^(0,1)_11 counts only output 1; hidden unit 1 feeds both outputs, so sum over k (BP2)":
           single_output}


def check_deck003(deck003_partials, X, D, W01, W12, name):
    __tracebackhide__ = True
    return checks.compare(deck003_partials, deck003_reference, X, D, W01, W12, name=name, forbid=FORBID_NETWORK,
                          mistakes=ONLY_K1)


# -- the typical wrong answers of the activations, losses and clipping ----------------------------

def _sigmoid(u):
    return 1.0 / (1.0 + np.exp(-u))


def _softmax_minus_one(scores, labels):
    """The loss, and p - 1 at every class instead of p - onehot(y)."""
    loss, _ = losses.softmax_cross_entropy(scores, labels)
    return loss, (losses.softmax(np.asarray(scores, dtype=float)) - 1.0) / len(scores)


SIGMOID_MISTAKES = {
    "that is dout * S(x); the derivative of the sigmoid is S(x) (1 - S(x)) (deck 003)": lambda dout, s: dout * s,
    "that is the derivative at S(s): the cache already holds s = S(x), so the derivative is s (1 - s), "
    "no second sigmoid": lambda dout, s: dout * _sigmoid(s) * (1 - _sigmoid(s)),
}
TANH_MISTAKES = {
    "that is dout * (1 - tanh(x)); the derivative of tanh is 1 - tanh(x)**2": lambda dout, t: dout * (1 - t),
    "that is the derivative at tanh(t): the cache already holds t = tanh(x), so the derivative is 1 - t**2, "
    "no second tanh": lambda dout, t: dout * (1 - np.tanh(t) ** 2),
}
SOFTMAX_MISTAKES = {"that is (p - 1)/N at every class: subtract 1 only at each example's true class, "
                    "dscores = (p - onehot(y))/N": _softmax_minus_one}
MSE_MISTAKES = {"that averages over all N*K entries (np.mean); deck 003's MSE sums over the K outputs and averages "
                "over the N examples only": lambda p, t: (float(np.mean((p - t) ** 2)), 2 * (p - t) / np.size(p))}
CLIP_MISTAKES = {"each array was clipped to max_norm on its own; use the global norm over all arrays and one common "
                 "scale": lambda g, c: [optim.clip_by_norm(p, c) for p in g] if isinstance(g, list)
                 else optim.clip_by_norm(g, c)}
