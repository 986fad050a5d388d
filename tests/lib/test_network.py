"""gradlab.network.MLP against independent oracles.

* every weight and bias gradient against central differences (gradlab.calculus, O(h^2)) and
  against ``autograd`` differentiating a separately written forward pass, for every hidden
  activation and every loss, several depths, widths and seeds; every delta^l against autograd;
* deck 002's two-layer tanh network with linear outputs and half-SSE: delta_k = y_k - t_k,
  delta_j = (1 - z_j^2) sum_k w_kj delta_k, dL/dw_ji = delta_j x_i, dL/dw_kj = delta_k z_j;
* deck 003's R^3 -> R^2 sigmoid network with MSE: the exercise's dE/dw^(1,2) and dE/dw^(0,1)
  in the solution's closed form;
* deck 001's deep linear chain W = diag(a, b): a = 1, b = 2 explodes, a = 0.5, b = 0.9 vanishes;
* decks 000/002: sigma' <= 1/4 bounds every backward step of a sigmoid net, so its deltas
  shrink toward the input;
* deck 000: one small gradient step lowers the loss by eta ||grad||^2 to first order;
* training on small synthetic sets lowers the loss; seeded shuffling is reproducible.
"""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from gradlab import init, optim
from gradlab.activations import ACTIVATIONS
from gradlab.calculus import numerical_gradient
from gradlab.network import MLP

H = 1e-5
RTOL_NUM, ATOL_NUM = 1e-6, 1e-8          # central differences: error ~ h^2 + eps/h ~ 1e-10
RTOL_AG, ATOL_AG = 1e-10, 1e-12          # autograd: same mathematics, other evaluation order

# autograd formulas written from deck 002's activation table (independent of gradlab)
ANP_ACT = {
    "sigmoid": lambda z: 1 / (1 + anp.exp(-z)),
    "tanh": anp.tanh,
    "relu": lambda z: anp.where(z > 0, z, 0.0 * z),
    "leaky_relu": lambda z: anp.where(z > 0, z, 0.01 * z),
    "elu": lambda z: anp.where(z > 0, z, anp.exp(z) - 1),
    "identity": lambda z: z,
}


def anp_softmax_ce(s, y):
    logp = s - anp.log(anp.sum(anp.exp(s), axis=1, keepdims=True))
    return -anp.sum(logp[np.arange(s.shape[0]), y]) / s.shape[0]


def anp_logistic(s, y):
    p = 1 / (1 + anp.exp(-s[:, 0]))
    return -anp.sum(y * anp.log(p) + (1 - y) * anp.log(1 - p)) / s.shape[0]


ANP_LOSS = {
    "softmax_cross_entropy": anp_softmax_ce,
    "logistic_loss": anp_logistic,
    "mse": lambda o, t: anp.sum((o - t) ** 2) / o.shape[0],
    "half_sse": lambda o, t: 0.5 * anp.sum((o - t) ** 2),
}


def anp_forward(params, X, act, out_act=None, shifts=None):
    """z^l = a^(l-1) W^l + b^l (+ shift^l, to differentiate with respect to z^l)."""
    L = len(params) // 2
    a = X
    for l in range(L):
        z = anp.dot(a, params[2 * l]) + params[2 * l + 1]
        if shifts is not None:
            z = z + shifts[l]
        if l < L - 1:
            a = ANP_ACT[act](z)
        else:
            a = z if out_act is None else ANP_ACT[out_act](z)
    return a


def flat_params(net):
    return [p for pair in zip(net.W, net.b) for p in pair]


def problem(sizes, loss, seed, N=6):
    """Random inputs and targets of the form ``loss`` expects."""
    rng = np.random.default_rng(seed + 1000)
    X = rng.normal(size=(N, sizes[0]))
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, sizes[-1], size=N)
    elif loss == "logistic_loss":
        y = rng.integers(0, 2, size=N)
    else:
        y = rng.normal(size=(N, sizes[-1]))
    return X, y


def numeric_grads(net, X, y):
    """dC/dW^l and dC/db^l by central differences on net.loss, one parameter array at a time."""
    out = []
    for l in range(net.n_layers):
        pair = []
        for params in (net.W, net.b):
            original = params[l]

            def cost(v, params=params, l=l):
                params[l] = v
                return net.loss(X, y)

            pair.append(numerical_gradient(cost, original, H))
            params[l] = original
        out.append(tuple(pair))
    return out


def out_width(loss, width):
    return 1 if loss == "logistic_loss" else width


GRAD_CASES = [
    # (hidden activation, loss, sizes)
    ("sigmoid", "softmax_cross_entropy", [4, 5, 3]),
    ("tanh", "half_sse", [3, 6, 2]),
    ("relu", "softmax_cross_entropy", [5, 7, 6, 4]),
    ("leaky_relu", "mse", [2, 4, 4, 3]),
    ("elu", "logistic_loss", [3, 5, 1]),
    ("sigmoid", "mse", [3, 2]),                          # L = 1: no hidden layer at all
    ("tanh", "softmax_cross_entropy", [6, 4, 4, 4, 3]),  # L = 4
    ("identity", "half_sse", [2, 3, 2]),
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("act,loss,sizes", GRAD_CASES)
def test_gradients_match_central_differences(act, loss, sizes, seed):
    net = MLP(sizes, activation=act, loss=loss, seed=seed)
    for b in net.b:                                       # non-zero biases, to test them too
        b += np.random.default_rng(seed + 5).normal(scale=0.3, size=b.shape)
    X, y = problem(sizes, loss, seed)
    X_before = X.copy()
    loss_value, grads = net.loss_and_grads(X, y)
    np.testing.assert_array_equal(X, X_before)
    assert loss_value == pytest.approx(net.loss(X, y), rel=1e-14)
    for (dW, db), (nW, nb) in zip(grads, numeric_grads(net, X, y)):
        np.testing.assert_allclose(dW, nW, rtol=RTOL_NUM, atol=ATOL_NUM)
        np.testing.assert_allclose(db, nb, rtol=RTOL_NUM, atol=ATOL_NUM)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("act,loss,sizes", GRAD_CASES)
def test_gradients_and_deltas_match_autograd(act, loss, sizes, seed):
    net = MLP(sizes, activation=act, loss=loss, seed=seed)
    X, y = problem(sizes, loss, seed, N=9)
    loss_value, grads, deltas = net.loss_and_grads(X, y, return_deltas=True)
    params = flat_params(net)
    cost = lambda p: ANP_LOSS[loss](anp_forward(p, X, act), y)
    assert loss_value == pytest.approx(cost(params), rel=1e-12)
    expected = grad(cost)(params)
    for l, (dW, db) in enumerate(grads):
        np.testing.assert_allclose(dW, expected[2 * l], rtol=RTOL_AG, atol=ATOL_AG)
        np.testing.assert_allclose(db, expected[2 * l + 1], rtol=RTOL_AG, atol=ATOL_AG)
    # delta^l = dC/dz^l: differentiate with respect to a shift added to z^l
    zero_shifts = [np.zeros((X.shape[0], m)) for m in sizes[1:]]
    expected_deltas = grad(lambda s: ANP_LOSS[loss](anp_forward(params, X, act, shifts=s), y))(
        zero_shifts)
    assert len(deltas) == net.n_layers
    for got, want, m in zip(deltas, expected_deltas, sizes[1:]):
        assert got.shape == (X.shape[0], m)
        np.testing.assert_allclose(got, want, rtol=RTOL_AG, atol=ATOL_AG)


@pytest.mark.parametrize("seed", [0, 1])
def test_input_gradient_matches_central_differences(seed):
    net = MLP([3, 5, 2], activation="tanh", loss="mse", seed=seed)
    X, y = problem([3, 5, 2], "mse", seed)
    dX = net.input_gradient(X, y)
    np.testing.assert_allclose(dX, numerical_gradient(lambda v: net.loss(v, y), X, H),
                               rtol=RTOL_NUM, atol=ATOL_NUM)


# ---------------------------------------------------------------------------------------------
# deck 002: two-layer tanh MLP, linear outputs, half-SSE
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("D,M,K", [(2, 3, 1), (4, 5, 3), (3, 8, 2)])
def test_deck_002_two_layer_tanh_network(D, M, K, seed):
    rng = np.random.default_rng(seed)
    net = MLP([D, M, K], activation="tanh", loss="half_sse", seed=seed)
    net.b[0][:] = rng.normal(size=M)                  # deck 002's w_j0 (bias via x_0 = 1)
    net.b[1][:] = rng.normal(size=K)                  # w_k0
    x, t = rng.normal(size=(1, D)), rng.normal(size=(1, K))   # one example, as in the deck
    _, grads, deltas = net.loss_and_grads(x, t, return_deltas=True)

    # the deck's forward pass, entry by entry; deck w^(1)_ji is our W[0][i, j]
    w1, w2 = net.W[0], net.W[1]
    a_j = [sum(w1[i, j] * x[0, i] for i in range(D)) + net.b[0][j] for j in range(M)]
    z_j = [np.tanh(a) for a in a_j]
    y_k = [sum(w2[j, k] * z_j[j] for j in range(M)) + net.b[1][k] for k in range(K)]
    d_k = [y_k[k] - t[0, k] for k in range(K)]                              # delta_k = y_k - t_k
    d_j = [(1 - z_j[j] ** 2) * sum(w2[j, k] * d_k[k] for k in range(K))     # deck 002's BP
           for j in range(M)]
    np.testing.assert_allclose(net.forward(x)[0], y_k, rtol=1e-13)
    np.testing.assert_allclose(deltas[1][0], d_k, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(deltas[0][0], d_j, rtol=1e-12, atol=1e-14)
    # dL/dw_ji = delta_j x_i and dL/dw_kj = delta_k z_j
    np.testing.assert_allclose(grads[0][0], [[d_j[j] * x[0, i] for j in range(M)] for i in range(D)],
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[1][0], [[d_k[k] * z_j[j] for k in range(K)] for j in range(M)],
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[0][1], d_j, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[1][1], d_k, rtol=1e-12, atol=1e-14)
    # and the same numbers from autograd
    cost = lambda p: 0.5 * anp.sum((anp_forward(p, x, "tanh") - t) ** 2)
    expected = grad(cost)(flat_params(net))
    for got, want in zip([g for pair in grads for g in pair], expected):
        np.testing.assert_allclose(got, want, rtol=RTOL_AG, atol=ATOL_AG)


# ---------------------------------------------------------------------------------------------
# deck 003: f: R^3 -> R^2, sigmoid hidden and output units, MSE over N samples, no biases
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("J,N", [(2, 1), (4, 5), (3, 12)])
def test_deck_003_exercise_gradients(J, N, seed):
    I, K = 3, 2
    net = MLP([I, J, K], activation="sigmoid", output_activation="sigmoid", loss="mse", seed=seed)
    rng = np.random.default_rng(seed + 50)
    x, d = rng.normal(size=(N, I)), rng.uniform(size=(N, K))
    _, grads = net.loss_and_grads(x, d)

    # deck 003 indexing: w_ij^(0,1) from input i to hidden j, w_jk^(1,2) from hidden j to
    # output k -- exactly our W[0][i, j] and W[1][j, k] (0-based here); biases are zero
    w01, w12 = net.W[0], net.W[1]
    S = lambda v: 1 / (1 + np.exp(-v))
    Sp = lambda v: S(v) * (1 - S(v))                        # S' = S (1 - S)
    net01 = x @ w01                                         # net_nj^(0,1)
    y1 = S(net01)                                           # y_nj^(1,2)
    net12 = y1 @ w12                                        # net_nk^(1,2)
    o = S(net12)                                            # o_nk

    def dE_dw12(j, k):      # (1/N) sum_n 2 (o_nk - d_nk) S'(net_nk^(1,2)) y_nj
        return np.sum(2 * (o[:, k] - d[:, k]) * Sp(net12[:, k]) * y1[:, j]) / N

    def dE_dw01(i, j):      # (1/N) sum_n sum_k 2 (o_nk - d_nk) S'(net_nk) w_jk S'(net_nj) x_ni
        return sum(np.sum(2 * (o[:, k] - d[:, k]) * Sp(net12[:, k]) * w12[j, k]
                          * Sp(net01[:, j]) * x[:, i]) for k in range(K)) / N

    # the exercise: w11^(1,2), w21^(1,2), w11^(0,1), w12^(0,1), w21^(0,1), w22^(0,1)
    for j, k in [(0, 0), (1, 0)]:
        assert grads[1][0][j, k] == pytest.approx(dE_dw12(j, k), rel=1e-12, abs=1e-15)
    for i, j in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        assert grads[0][0][i, j] == pytest.approx(dE_dw01(i, j), rel=1e-12, abs=1e-15)
    # every other weight from the same closed forms
    np.testing.assert_allclose(grads[1][0], [[dE_dw12(j, k) for k in range(K)] for j in range(J)],
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads[0][0], [[dE_dw01(i, j) for j in range(J)] for i in range(I)],
                               rtol=1e-12, atol=1e-15)
    # and from autograd
    cost = lambda p: anp.sum((anp_forward(p, x, "sigmoid", out_act="sigmoid") - d) ** 2) / N
    expected = grad(cost)(flat_params(net))
    np.testing.assert_allclose(grads[0][0], expected[0], rtol=RTOL_AG, atol=ATOL_AG)
    np.testing.assert_allclose(grads[1][0], expected[2], rtol=RTOL_AG, atol=ATOL_AG)


@pytest.mark.parametrize("out_act", ["sigmoid", "tanh", "elu"])
def test_output_activation_gradients_match_central_differences(out_act):
    net = MLP([3, 4, 2], activation="relu", output_activation=out_act, loss="half_sse", seed=4)
    X, y = problem([3, 4, 2], "half_sse", 4)
    _, grads = net.loss_and_grads(X, y)
    for (dW, db), (nW, nb) in zip(grads, numeric_grads(net, X, y)):
        np.testing.assert_allclose(dW, nW, rtol=RTOL_NUM, atol=ATOL_NUM)
        np.testing.assert_allclose(db, nb, rtol=RTOL_NUM, atol=ATOL_NUM)


# ---------------------------------------------------------------------------------------------
# deck 001: exploding and vanishing gradients through W = diag(a, b)
# ---------------------------------------------------------------------------------------------

def linear_loss(out, t):
    """C = sum(out * t): its gradient with respect to the outputs is t."""
    return float((out * t).sum()), t


@pytest.mark.parametrize("a,b", [(1.0, 2.0), (0.5, 0.9)])
def test_deck_001_diagonal_chain(a, b):
    n = 50
    net = MLP([2] * (n + 1), activation="identity", loss=linear_loss, seed=0)
    for l in range(n):
        net.W[l] = np.diag([a, b])                          # h_i = W h_(i-1), no bias
    x, t = np.ones((1, 2)), np.ones((1, 2))
    _, grads, deltas = net.loss_and_grads(x, t, return_deltas=True)
    # y = W^n x = (a^n, b^n) for x = (1, 1)
    np.testing.assert_allclose(net.forward(x), [[a ** n, b ** n]], rtol=1e-13)
    # the product of the 50 weight matrices, seen by the input: dC/dx = t (W^n)^T = (a^n, b^n)
    np.testing.assert_allclose(net.input_gradient(x, t), [[a ** n, b ** n]], rtol=1e-13)
    # delta^l = t (W^T)^(n - l): each layer back multiplies by diag(a, b)
    for l in range(1, n + 1):
        np.testing.assert_allclose(deltas[l - 1], [[a ** (n - l), b ** (n - l)]], rtol=1e-13)
    # the deck ties all layers to one W: the gradient for shared a, b is the sum over layers,
    # d(a^n)/da = n a^(n-1) and d(b^n)/db = n b^(n-1)   (deck 001: (n, n 2^(n-1)) for a=1, b=2)
    shared = sum(dW for dW, _ in grads)
    np.testing.assert_allclose(np.diag(shared), [n * a ** (n - 1), n * b ** (n - 1)], rtol=1e-12)
    norm = np.linalg.norm(net.input_gradient(x, t))
    if b > 1:
        assert norm > 1e15                                  # 2^50 ~ 1.1e15: explodes
    else:
        assert norm < 1e-2                                  # 0.9^50 ~ 5e-3: vanishes


# ---------------------------------------------------------------------------------------------
# vanishing gradients in a deep sigmoid network (decks 000, 002, 004)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigmoid_deltas_shrink_toward_the_input(seed):
    sizes = [10] + [16] * 8 + [4]
    net = MLP(sizes, activation="sigmoid", loss="softmax_cross_entropy", seed=seed)
    X, y = problem(sizes, "softmax_cross_entropy", seed, N=32)
    _, _, deltas = net.loss_and_grads(X, y, return_deltas=True)
    # deck 002: delta^l = sigma'(z^l) (.) (delta^(l+1) W^T) with sigma' <= 1/4, so per example
    # ||delta^l_n|| <= 1/4 ||W^(l+1)||_2 ||delta^(l+1)_n||   (operator norm of the weights)
    for l in range(net.n_layers - 1):
        bound = 0.25 * np.linalg.norm(net.W[l + 1], 2) * np.linalg.norm(deltas[l + 1], axis=1)
        assert np.all(np.linalg.norm(deltas[l], axis=1) <= bound * (1 + 1e-12))
    # Xavier weights have ||W||_2 ~ 2 for 16 x 16, so each layer back at least halves delta:
    hidden = [np.linalg.norm(d) for d in deltas[:-1]]
    assert all(h1 < h2 for h1, h2 in zip(hidden, hidden[1:]))       # monotone toward the input
    assert hidden[0] < 2.0 ** -7 * hidden[-1]                         # 7 steps back


# ---------------------------------------------------------------------------------------------
# optimisation: one step, the optimizer wiring, training
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("act", ["sigmoid", "relu"])
def test_one_small_step_lowers_the_loss_by_eta_grad_squared_deck_000(act):
    net = MLP([4, 6, 3], activation=act, loss="softmax_cross_entropy", seed=3)
    X, y = problem([4, 6, 3], "softmax_cross_entropy", 3, N=20)
    before, grads = net.loss_and_grads(X, y)
    sq = sum(np.sum(dW ** 2) + np.sum(db ** 2) for dW, db in grads)
    eta = 1e-4
    returned = net.step(X, y, optimizer="sgd", lr=eta)
    after = net.loss(X, y)
    assert returned == pytest.approx(before, rel=1e-14)             # the cost before the step
    # Delta L ~ -eta ||grad L||^2, with an O(eta^2) remainder
    assert (before - after) / (eta * sq) == pytest.approx(1.0, abs=1e-3)


def test_step_calls_the_optimizer_once_per_array_and_threads_its_state():
    calls = []

    def recording_update(w, dw, state=None, lr=0.0):
        calls.append((w.shape, dw.shape, state))
        return w - lr * dw, {"n": 0 if state is None else state["n"] + 1}

    net = MLP([3, 4, 2], activation="tanh", loss="mse", seed=0)
    X, y = problem([3, 4, 2], "mse", 0)
    for _ in range(3):
        net.step(X, y, optimizer=recording_update, lr=0.1)
    shapes = [(3, 4), (4,), (4, 2), (2,)]
    assert [c[0] for c in calls] == shapes * 3 and [c[1] for c in calls] == shapes * 3
    assert [c[2] for c in calls[:4]] == [None] * 4                    # fresh state per array
    assert [c[2] for c in calls[8:]] == [{"n": 1}] * 4                # then handed back


def test_step_with_named_optimizers_and_reset_starts_afresh():
    X, y = problem([3, 4, 2], "softmax_cross_entropy", 1, N=10)
    for name in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"):
        net = MLP([3, 4, 2], activation="relu", loss="softmax_cross_entropy", seed=1)
        start = net.loss(X, y)
        for _ in range(30):
            net.step(X, y, optimizer=name, lr=0.05)
        assert net.loss(X, y) < start, name
    # switching to another method by name starts it afresh (Adam's "v" is no velocity)
    net = MLP([3, 4, 2], activation="relu", loss="softmax_cross_entropy", seed=1)
    net.step(X, y, optimizer="adam", lr=1e-3)
    net.step(X, y, optimizer="momentum", lr=0.1)
    assert net.optimizer.update is optim.momentum and net.optimizer.steps["W1"] == 1
    assert set(net.optimizer.state["W1"]) == {"t", "v"} and net.optimizer.hyper == {"lr": 0.1}
    net.optimizer.reset()
    assert net.optimizer.state == {} and net.optimizer.t == 0
    W0 = net.W[0].copy()
    _, grads = net.loss_and_grads(X, y)
    net.step(X, y, optimizer="momentum", lr=0.1)
    # first momentum step from v = 0 is a plain gradient step (deck 000: v = 0 * beta + grad)
    np.testing.assert_allclose(net.W[0], W0 - 0.1 * grads[0][0], rtol=1e-14, atol=1e-15)
    assert optim.OPTIMIZERS["momentum"] is optim.momentum

def hand_rolled(net, X, y, steps, update, hyper_at):
    """Oracle: the pure update functions in a plain loop, one state per array, kept throughout.

    Returns the weights and biases after ``steps`` steps; ``hyper_at(t)`` gives step t's hyper.
    """
    params = [p.copy() for pair in zip(net.W, net.b) for p in pair]
    states = [None] * len(params)
    for t in range(steps):
        probe = MLP(net.sizes, activation=net.activation, loss=net.loss_name)
        probe.W, probe.b = params[0::2], params[1::2]
        _, grads = probe.loss_and_grads(X, y)
        flat = [g for pair in grads for g in pair]
        for i, (p, g) in enumerate(zip(params, flat)):
            params[i], states[i] = update(p, g, states[i], **hyper_at(t))
    return params, states


@pytest.mark.parametrize("seed", [0, 3])
def test_fresh_partial_each_step_keeps_adam_state_regression(seed):
    # bug: state was keyed on the update function's identity, so a fresh partial per step
    # restarted Adam every step (t stayed 1, the bias correction never decayed)
    from functools import partial
    sizes = [3, 5, 2]
    X, y = problem(sizes, "softmax_cross_entropy", seed, N=8)
    net = MLP(sizes, activation="tanh", loss="softmax_cross_entropy", seed=seed)
    expected, states = hand_rolled(net, X, y, 4, optim.adam, lambda t: {"lr": 0.05, "beta1": 0.8})
    for _ in range(4):
        net.step(X, y, optimizer=partial(optim.adam, beta1=0.8), lr=0.05)
    got = [p for pair in zip(net.W, net.b) for p in pair]
    assert states[0]["t"] == 4
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("update, hyper_at", [
    # the live-training case: eta and momentum change mid-run, the velocity carries on
    (optim.momentum, lambda t: {"lr": [0.1, 0.05, 0.2, 0.02, 0.1][t], "beta": [0.9, 0.5, 0.99, 0.0, 0.8][t]}),
    (optim.momentum_velocity, lambda t: {"lr": 0.1 / (t + 1), "alpha": 0.5 + 0.1 * t}),
    (optim.adam, lambda t: {"lr": [1e-2, 1e-3, 5e-2, 1e-2, 2e-2][t], "beta1": 0.8 + 0.04 * t}),
])
def test_hyper_change_between_steps_keeps_accumulators(update, hyper_at):
    sizes = [4, 6, 3]
    X, y = problem(sizes, "softmax_cross_entropy", 5, N=9)
    net = MLP(sizes, activation="relu", loss="softmax_cross_entropy", seed=5)
    expected, states = hand_rolled(net, X, y, 5, update, hyper_at)
    net.step(X, y, optimizer=update, **hyper_at(0))
    for t in range(1, 5):
        for name, value in hyper_at(t).items():
            net.optimizer.hyper[name] = value                  # changed between steps
        net.step(X, y)
    got = [p for pair in zip(net.W, net.b) for p in pair]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for key, state in zip(("W1", "b1"), states):               # same accumulators as the oracle
        for name, value in state.items():
            np.testing.assert_allclose(net.optimizer.state[key][name], value, rtol=1e-12, atol=1e-15)
    assert net.optimizer.t == 5


def test_an_optimizer_object_is_adopted_and_hyper_given_to_step_change_it():
    sizes = [3, 4, 2]
    X, y = problem(sizes, "mse", 2)
    net = MLP(sizes, activation="tanh", loss="mse", seed=2)
    expected, _ = hand_rolled(net, X, y, 3, optim.nesterov, lambda t: {"lr": [0.1, 0.1, 0.03][t]})
    opt = optim.Optimizer("nesterov", lr=0.1)
    net.step(X, y, optimizer=opt)
    net.step(X, y)                                             # None: keep using net.optimizer
    net.step(X, y, lr=0.03)
    assert net.optimizer is opt and opt.hyper == {"lr": 0.03} and opt.steps["b2"] == 3
    for a, b in zip([p for pair in zip(net.W, net.b) for p in pair], expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_fit_evaluates_a_schedule_at_the_step_count():
    # one batch per epoch and no shuffling: fit is the hand-rolled loop with eta_t = schedule(t)
    sizes = [2, 5, 3]
    X, y = problem(sizes, "softmax_cross_entropy", 4, N=12)
    net = MLP(sizes, activation="sigmoid", loss="softmax_cross_entropy", seed=4)
    expected, _ = hand_rolled(net, X, y, 7, optim.sgd, lambda t: {"lr": 1.0 * 0.5 ** (t // 3)})
    net.fit(X, y, epochs=7, batch_size=12, shuffle=False, lr=optim.step_decay(1.0, 0.5, 3))
    for a, b in zip([p for pair in zip(net.W, net.b) for p in pair], expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_fit_tells_a_plateau_schedule_every_epoch_loss():
    X, y = blobs(10, 2, 2, seed=0)
    net = MLP([2, 3, 2], seed=0)
    schedule = optim.plateau_lr(0.5, patience=2)
    history = net.fit(X, y, epochs=6, batch_size=5, lr=schedule)
    assert schedule.losses == history["loss"]
    assert net.optimizer.hyper["lr"] is schedule


def blobs(n_per_class, k, dim, seed):
    """k Gaussian blobs (std 0.8) centred on a circle of radius 4: separable by construction."""
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(k) / k
    centres = np.zeros((k, dim))
    centres[:, 0], centres[:, 1] = 4 * np.cos(angles), 4 * np.sin(angles)
    X = np.concatenate([c + 0.8 * rng.normal(size=(n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(k), n_per_class)
    return X, y


@pytest.mark.parametrize("act,opt,hyper", [
    ("sigmoid", "sgd", {"lr": 0.5}),
    ("relu", "momentum", {"lr": 0.05}),
    ("tanh", "adam", {"lr": 0.01}),
])
def test_training_reduces_the_loss(act, opt, hyper):
    X, y = blobs(40, 3, 2, seed=7)
    net = MLP([2, 16, 3], activation=act, loss="softmax_cross_entropy", seed=0)
    start = net.loss(X, y)
    history = net.fit(X, y, epochs=40, batch_size=16, optimizer=opt, **hyper)
    assert len(history["loss"]) == 40
    assert len(history["batch_loss"]) == 40 * int(np.ceil(len(X) / 16))
    assert net.loss(X, y) < 0.25 * start
    assert history["loss"][-1] < history["loss"][0]
    assert net.accuracy(X, y) > 0.95


def test_regression_training_and_validation_history():
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, size=(120, 1))
    Y = np.sin(X)
    Xv = rng.uniform(-2, 2, size=(30, 1))
    net = MLP([1, 20, 1], activation="tanh", loss="mse", seed=0)
    start = net.loss(X, Y)
    history = net.fit(X, Y, epochs=100, batch_size=20, optimizer="adam", lr=0.01,
                      X_val=Xv, y_val=np.sin(Xv))
    assert net.loss(X, Y) < 0.1 * start
    assert len(history["val_loss"]) == 100 and history["val_loss"][-1] < history["val_loss"][0]
    assert net.predict(X).shape == (120, 1)


def test_logistic_network_predicts_zero_one():
    X, y = blobs(30, 2, 2, seed=3)
    net = MLP([2, 8, 1], activation="tanh", loss="logistic_loss", seed=0)
    net.fit(X, y, epochs=30, batch_size=10, lr=0.5)
    pred = net.predict(X)
    assert pred.shape == (60,) and set(np.unique(pred)) <= {0, 1}
    assert net.accuracy(X, y) > 0.95


def test_fit_is_reproducible_and_shuffles_with_the_seed():
    X, y = blobs(20, 2, 3, seed=1)
    runs = []
    for seed in (5, 5, 6):
        net = MLP([3, 4, 2], activation="sigmoid", seed=seed)
        net.W = [w.copy() for w in MLP([3, 4, 2], activation="sigmoid", seed=0).W]  # same start
        runs.append(net.fit(X, y, epochs=3, batch_size=7, lr=0.3)["batch_loss"])
    assert runs[0] == runs[1]                      # same seed, same batches, same numbers
    assert runs[0] != runs[2]                      # another seed, another order
    # without shuffling the order is the data's own: independent of the seed
    a, b = (MLP([3, 4, 2], seed=0), MLP([3, 4, 2], seed=0))
    b.rng = np.random.default_rng(99)
    assert (a.fit(X, y, epochs=2, batch_size=7, shuffle=False)["batch_loss"]
            == b.fit(X, y, epochs=2, batch_size=7, shuffle=False)["batch_loss"])


def test_one_batch_per_epoch_when_batch_exceeds_data():
    X, y = blobs(5, 2, 2, seed=0)
    net = MLP([2, 3, 2], seed=0)
    history = net.fit(X, y, epochs=4, batch_size=100, lr=0.1)
    assert len(history["batch_loss"]) == 4
    assert history["loss"] == history["batch_loss"]


def test_callback_sees_every_epoch():
    X, y = blobs(5, 2, 2, seed=0)
    seen = []
    MLP([2, 3, 2], seed=0).fit(X, y, epochs=3, batch_size=4,
                               callback=lambda e, net, h: seen.append((e, len(h["loss"]))))
    assert seen == [(0, 1), (1, 2), (2, 3)]


# ---------------------------------------------------------------------------------------------
# construction
# ---------------------------------------------------------------------------------------------

def test_initialisation_is_seeded_and_follows_deck_001():
    a, b, c = MLP([30, 40, 5], seed=1), MLP([30, 40, 5], seed=1), MLP([30, 40, 5], seed=2)
    for wa, wb, wc in zip(a.W, b.W, c.W):
        np.testing.assert_array_equal(wa, wb)
        assert not np.array_equal(wa, wc)
    assert all(np.all(bias == 0) for bias in a.b)
    # Xavier N(0, 1/m) for sigmoid, He N(0, 2/m) for ReLU, m = fan-in; large layers, 5% slack
    big = [400, 300, 300]
    for act, var in (("sigmoid", lambda m: 1 / m), ("relu", lambda m: 2 / m)):
        net = MLP(big, activation=act, seed=0)
        for W, m in zip(net.W, big[:-1]):
            assert W.var() == pytest.approx(var(m), rel=0.05)
    net = MLP([4, 3], weight_init="zeros")
    np.testing.assert_array_equal(net.W[0], 0.0)
    net = MLP([4, 3], weight_init=lambda m, n, rng: np.full((m, n), 0.5))
    np.testing.assert_array_equal(net.W[0], 0.5)
    assert net.W[0].shape == (4, 3) and net.b[0].shape == (3,)
    assert init.INITIALIZERS["xavier"] is init.xavier


def test_forward_equals_a_plain_layer_by_layer_computation():
    net = MLP([3, 5, 4, 2], activation="tanh", loss="mse", seed=9)
    X = np.random.default_rng(9).normal(size=(7, 3))
    a = X
    for l, (W, b) in enumerate(zip(net.W, net.b)):
        z = np.einsum("nj,jk->nk", a, W) + b
        a = np.tanh(z) if l < 2 else z
    np.testing.assert_allclose(net.forward(X), a, rtol=1e-13)


def test_activation_params_reach_the_hidden_layers():
    net = MLP([1, 1, 1], activation="leaky_relu", activation_params={"slope": 0.5}, loss="mse",
              weight_init=lambda m, n, rng: np.ones((m, n)))
    np.testing.assert_allclose(net.forward(np.array([[-2.0]])), [[-1.0]])   # 0.5 * -2


def test_errors_say_what_is_available():
    with pytest.raises(ValueError, match="sigmoid"):
        MLP([2, 2], activation="swish")
    with pytest.raises(ValueError, match="mse"):
        MLP([2, 2], loss="hinge")
    with pytest.raises(ValueError, match="xavier"):
        MLP([2, 2], weight_init="orthogonal")
    with pytest.raises(ValueError, match="sizes"):
        MLP([5])
    with pytest.raises(ValueError, match="shape"):
        MLP([2, 3], weight_init=lambda m, n, rng: np.zeros((n, m)))
    assert set(ACTIVATIONS) >= {"sigmoid", "tanh", "relu", "leaky_relu", "elu"}
