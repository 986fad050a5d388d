"""Tests for gradlab.optim.

Oracles: the update equations of decks 000/001 and the papers, worked out by hand in each test
(first and second steps); closed forms for gradient descent on a quadratic ((I − ηA)ᵗ θ₀ and
the 2/L stability limit); an explicit look-ahead implementation of Nesterov written from
deck 001's equations; and the schedules' formulas.  Nothing is compared with a stored output
of the code under test.
"""

import copy

import numpy as np
import pytest

from gradlab import optim
from gradlab.optim import (
    OPTIMIZERS, adagrad, adam, adamw, clip_by_norm, l2_penalty, lr_range_test, clip_by_value, cyclical_lr, minimize, momentum,
    momentum_velocity, nesterov, plateau_lr, rmsprop, sgd, step_decay,
)

SHAPES = [(1,), (5,), (3, 4), (2, 3, 2)]


def _pair(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape), rng.standard_normal(shape), rng.standard_normal(shape)


def _quadratic(seed=0, lam=(1.0, 10.0)):
    """A rotated SPD matrix A with eigenvalues ``lam`` and its gradient θ ↦ Aθ."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((len(lam), len(lam))))
    A = Q @ np.diag(lam) @ Q.T
    return A, Q, (lambda th: A @ th)


# ------------------------------------------------------------------------------------------
# First steps worked by hand from the update equations
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_sgd_step_by_hand(shape):
    w, g1, g2 = _pair(shape, 1)
    lr = 0.3
    w1, s = sgd(w, g1, lr=lr)
    np.testing.assert_allclose(w1, w - lr * g1, rtol=1e-15)           # θ − η∇L  (deck 000)
    w2, s = sgd(w1, g2, s, lr=lr)
    np.testing.assert_allclose(w2, w - lr * g1 - lr * g2, rtol=1e-14, atol=1e-15)
    assert s["t"] == 2


@pytest.mark.parametrize("shape", SHAPES)
def test_momentum_deck000_two_steps_by_hand(shape):
    w, g1, g2 = _pair(shape, 2)
    lr, beta = 0.1, 0.8
    w1, s = momentum(w, g1, lr=lr, beta=beta)
    # v1 = β·0 + g1 = g1 ; θ1 = θ0 − η g1
    np.testing.assert_allclose(s["v"], g1, rtol=1e-15)
    np.testing.assert_allclose(w1, w - lr * g1, rtol=1e-14, atol=1e-15)
    w2, s = momentum(w1, g2, s, lr=lr, beta=beta)
    # v2 = β g1 + g2 ; θ2 = θ1 − η (β g1 + g2)
    np.testing.assert_allclose(s["v"], beta * g1 + g2, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(w2, w - lr * g1 - lr * (beta * g1 + g2), rtol=1e-13, atol=1e-14)
    assert s["t"] == 2


@pytest.mark.parametrize("shape", SHAPES)
def test_momentum_deck001_two_steps_by_hand(shape):
    w, g1, g2 = _pair(shape, 3)
    eps, alpha = 0.1, 0.8
    w1, s = momentum_velocity(w, g1, lr=eps, alpha=alpha)
    # v1 = −ε g1 ; θ1 = θ0 + v1
    np.testing.assert_allclose(s["v"], -eps * g1, rtol=1e-15)
    np.testing.assert_allclose(w1, w - eps * g1, rtol=1e-14, atol=1e-15)
    w2, s = momentum_velocity(w1, g2, s, lr=eps, alpha=alpha)
    # v2 = α(−ε g1) − ε g2 ; θ2 = θ1 + v2
    v2 = -alpha * eps * g1 - eps * g2
    np.testing.assert_allclose(s["v"], v2, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(w2, w - eps * g1 + v2, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("shape", SHAPES)
def test_nesterov_first_step_by_hand(shape):
    w, g1, _ = _pair(shape, 4)
    eps, alpha = 0.05, 0.9
    # θ̃0 = θ0 (v = 0); v1 = −ε g ; θ1 = θ0 + v1 ; returned look-ahead θ̃1 = θ1 + α v1
    w1, s = nesterov(w, g1, lr=eps, alpha=alpha)
    np.testing.assert_allclose(s["v"], -eps * g1, rtol=1e-15)
    np.testing.assert_allclose(w1, w - (1 + alpha) * eps * g1, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
def test_adagrad_two_steps_by_hand(shape):
    w, g1, g2 = _pair(shape, 5)
    eps, delta = 0.2, 1e-7
    w1, s = adagrad(w, g1, lr=eps, eps=delta)
    # r1 = g1² ; θ1 = θ0 − ε g1 / (δ + |g1|)
    np.testing.assert_allclose(s["r"], g1 ** 2, rtol=1e-15)
    np.testing.assert_allclose(w1, w - eps * g1 / (delta + np.abs(g1)), rtol=1e-13, atol=1e-15)
    w2, s = adagrad(w1, g2, s, lr=eps, eps=delta)
    r2 = g1 ** 2 + g2 ** 2
    np.testing.assert_allclose(s["r"], r2, rtol=1e-14)
    np.testing.assert_allclose(w2, w1 - eps * g2 / (delta + np.sqrt(r2)), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
def test_rmsprop_two_steps_by_hand(shape):
    w, g1, g2 = _pair(shape, 6)
    eps, rho, delta = 0.01, 0.9, 1e-8
    w1, s = rmsprop(w, g1, lr=eps, rho=rho, eps=delta)
    # r1 = (1 − ρ) g1² ; the first step is ε/√(1−ρ) ≈ 3.16 ε in every coordinate
    np.testing.assert_allclose(s["r"], (1 - rho) * g1 ** 2, rtol=1e-14)
    np.testing.assert_allclose(w1, w - eps * g1 / (delta + np.sqrt(1 - rho) * np.abs(g1)),
                               rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.abs(w1 - w), eps / np.sqrt(1 - rho),
                               rtol=2 * delta / (np.sqrt(1 - rho) * np.abs(g1).min()) + 1e-10)
    w2, s = rmsprop(w1, g2, s, lr=eps, rho=rho, eps=delta)
    r2 = rho * (1 - rho) * g1 ** 2 + (1 - rho) * g2 ** 2
    np.testing.assert_allclose(s["r"], r2, rtol=1e-14)
    np.testing.assert_allclose(w2, w1 - eps * g2 / (delta + np.sqrt(r2)), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e4])
@pytest.mark.parametrize("shape", SHAPES)
def test_adam_first_step_is_lr_times_sign(shape, scale):
    # Bias correction: m̂1 = g, v̂1 = g², so Δθ = −η g/(|g| + δ) ≈ −η sign(g) whatever the scale.
    w, g, _ = _pair(shape, 7)
    g = scale * g
    lr = 1e-3
    w1, s = adam(w, g, lr=lr)
    # relative deviation from η·sign(g) is δ/|g| (plus rounding of 1 − β₂ and of w + Δ)
    np.testing.assert_allclose(w1 - w, -lr * np.sign(g), rtol=2e-8 / np.abs(g).min() + 1e-10)


@pytest.mark.parametrize("shape", SHAPES)
def test_adam_two_steps_by_hand(shape):
    w, g1, g2 = _pair(shape, 8)
    lr, b1, b2, delta = 0.01, 0.9, 0.999, 1e-8
    w1, s = adam(w, g1, lr=lr, beta1=b1, beta2=b2, eps=delta)
    w2, s = adam(w1, g2, s, lr=lr, beta1=b1, beta2=b2, eps=delta)
    # m2 = (1−β1)(β1 g1 + g2), v2 = (1−β2)(β2 g1² + g2²)
    m2 = (1 - b1) * (b1 * g1 + g2)
    v2 = (1 - b2) * (b2 * g1 ** 2 + g2 ** 2)
    np.testing.assert_allclose(s["m"], m2, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(s["v"], v2, rtol=1e-13)
    assert s["t"] == 2
    # m̂2 = m2 / (1 − β1²) = (β1 g1 + g2)/(1 + β1);  v̂2 = (β2 g1² + g2²)/(1 + β2)
    m_hat = (b1 * g1 + g2) / (1 + b1)
    v_hat = (b2 * g1 ** 2 + g2 ** 2) / (1 + b2)
    np.testing.assert_allclose(w2, w1 - lr * m_hat / (np.sqrt(v_hat) + delta), rtol=1e-12, atol=1e-15)


def test_defaults_are_the_published_ones():
    import inspect

    def defaults(f):
        return {k: p.default for k, p in inspect.signature(f).parameters.items()
                if p.default is not inspect.Parameter.empty}

    assert defaults(adam) == {"state": None, "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert defaults(rmsprop)["rho"] == 0.9                 # Hinton, lecture 6e
    assert defaults(momentum)["beta"] == 0.9               # deck 000
    assert defaults(momentum_velocity)["alpha"] == 0.9
    assert defaults(step_decay)["drop"] == 0.1             # deck 000: ÷10


# ------------------------------------------------------------------------------------------
# Conventions and equivalences
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_momentum_conventions_same_trajectory(seed):
    A, _, grad = _quadratic(seed, lam=(0.5, 4.0))
    theta0 = np.random.default_rng(seed).standard_normal(2)
    eta, beta = 0.1, 0.85
    ta = minimize(grad, theta0, momentum, 60, lr=eta, beta=beta)
    tb = minimize(grad, theta0, momentum_velocity, 60, lr=eta, alpha=beta)
    np.testing.assert_allclose(ta, tb, rtol=1e-10, atol=1e-13)
    # and the velocities map as v₀₀₁ = −η v₀₀₀ at every step
    wa = wb = theta0
    sa = sb = None
    for _ in range(20):
        wa, sa = momentum(wa, grad(wa), sa, lr=eta, beta=beta)
        wb, sb = momentum_velocity(wb, grad(wb), sb, lr=eta, alpha=beta)
        np.testing.assert_allclose(sb["v"], -eta * sa["v"], rtol=1e-10, atol=1e-14)


def test_momentum_conventions_differ_when_lr_changes():
    # The equivalence needs a constant η: after a change of η, deck 000 rescales the old
    # velocity by the new η and deck 001 does not.  Two steps by hand with η1 = 0.1, η2 = 0.01:
    w, g1, g2 = np.array([1.0]), np.array([1.0]), np.array([1.0])
    wa, sa = momentum(w, g1, lr=0.1, beta=0.9)
    wa, sa = momentum(wa, g2, sa, lr=0.01, beta=0.9)
    wb, sb = momentum_velocity(w, g1, lr=0.1, alpha=0.9)
    wb, sb = momentum_velocity(wb, g2, sb, lr=0.01, alpha=0.9)
    np.testing.assert_allclose(wa, 1 - 0.1 - 0.01 * (0.9 + 1))       # 0.881
    np.testing.assert_allclose(wb, 1 - 0.1 + (0.9 * -0.1 - 0.01))    # 0.8
    assert not np.allclose(wa, wb)


@pytest.mark.parametrize("seed", [0, 3])
def test_nesterov_matches_lookahead_form_of_deck001(seed):
    # Deck 001's form: θ̃ = θ + αv ; g = ∇L(θ̃) ; v = αv − εg ; θ = θ + v.
    _, _, grad = _quadratic(seed, lam=(1.0, 8.0))
    theta = np.random.default_rng(seed).standard_normal(2)
    eps, alpha = 0.05, 0.9
    v = np.zeros(2)
    w, s = theta.copy(), None
    for _ in range(40):
        look = theta + alpha * v
        g = grad(look)
        v = alpha * v - eps * g
        theta = theta + v
        w, s = nesterov(w, grad(w), s, lr=eps, alpha=alpha)
        np.testing.assert_allclose(w, theta + alpha * v, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(s["v"], v, rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------------------------------
# Purity and state handling
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_optimizers_are_pure(name, shape):
    opt = OPTIMIZERS[name]
    w, g1, g2 = _pair(shape, 9)
    w0, g0 = w.copy(), g1.copy()
    w1, s1 = opt(w, g1)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(g1, g0)
    assert w1 is not w
    s1_copy = copy.deepcopy(s1)
    w2, s2 = opt(w1, g2, s1)
    assert s2 is not s1
    assert s1.keys() == s1_copy.keys()
    for k in s1:
        np.testing.assert_array_equal(s1[k], s1_copy[k])      # incoming state untouched
    assert s1["t"] == 1 and s2["t"] == 2
    # same inputs, same outputs: no hidden global state
    w1b, _ = opt(w0, g0)
    np.testing.assert_array_equal(w1b, w1)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_return_float64_for_int_input(name):
    w1, _ = OPTIMIZERS[name](np.array([1, 2, 3]), np.array([1, -1, 2]))
    assert w1.dtype == np.float64


@pytest.mark.parametrize("name", sorted(set(OPTIMIZERS) - {"adamw"}))   # AdamW decays: see below
def test_zero_gradient_keeps_parameters(name):
    w = np.array([0.5, -2.0, 3.0])
    w1, s = OPTIMIZERS[name](w, np.zeros(3))
    np.testing.assert_array_equal(w1, w)


def test_registry_names():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "momentum_velocity", "nesterov", "adagrad",
                               "rmsprop", "adam", "adamw"}
    assert OPTIMIZERS["adam"] is adam


# ------------------------------------------------------------------------------------------
# Convergence and divergence
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("lam", [(1.0, 10.0), (0.2, 5.0)])
def test_gd_on_quadratic_closed_form_and_2_over_L(seed, lam):
    # GD on L = ½θᵀAθ: θ_t = (I − ηA)ᵗ θ0.  Along the top eigenvector the error is multiplied by
    # (1 − η λ_max) each step: converges iff η < 2/λ_max = 2/L.
    A, Q, grad = _quadratic(seed, lam)
    L = max(lam)
    theta0 = Q @ np.array([1.0, 1.0])
    for factor, converges in [(0.95, True), (1.05, False)]:
        eta = factor * 2.0 / L
        traj = minimize(grad, theta0, "sgd", 200, lr=eta)
        expected = np.array([np.linalg.matrix_power(np.eye(2) - eta * A, t) @ theta0
                             for t in (0, 1, 2, 50, 200)])
        np.testing.assert_allclose(traj[[0, 1, 2, 50, 200]], expected, rtol=1e-8, atol=1e-12)
        top = Q[:, np.argmax(lam)]
        ratio = abs(traj[200] @ top) / abs(traj[0] @ top)
        np.testing.assert_allclose(ratio, abs(1 - eta * L) ** 200, rtol=1e-7)
        assert (ratio < 1e-3) if converges else (ratio > 1e3)


QUAD_CASES = [
    ("sgd", {"lr": 0.15}, 300, 1e-8),
    ("momentum", {"lr": 0.05, "beta": 0.7}, 300, 1e-8),
    ("momentum_velocity", {"lr": 0.05, "alpha": 0.7}, 300, 1e-8),
    ("nesterov", {"lr": 0.05, "alpha": 0.7}, 300, 1e-8),
    ("adagrad", {"lr": 1.0}, 1000, 1e-6),
    ("rmsprop", {"lr": lambda t: 0.1 / (1 + t / 20)}, 2000, 1e-2),
    ("adam", {"lr": 0.1}, 1000, 1e-4),
]


@pytest.mark.parametrize("name, hyper, steps, tol", QUAD_CASES, ids=[c[0] for c in QUAD_CASES])
def test_convergence_on_ill_conditioned_quadratic(name, hyper, steps, tol):
    A, Q, grad = _quadratic(4, lam=(1.0, 10.0))   # condition number 10
    theta0 = np.array([3.0, -2.0])
    traj = minimize(grad, theta0, name, steps, **hyper)
    assert np.linalg.norm(traj[-1]) < tol * np.linalg.norm(theta0)


def test_momentum_beats_gd_on_ill_conditioned_quadratic():
    # Deck 000: momentum accumulates velocity along the low-curvature direction.  With κ = 100,
    # best GD rate contracts by (κ−1)/(κ+1) ≈ 0.98/step; heavy ball with tuned β by
    # (√κ−1)/(√κ+1) ≈ 0.82/step (Polyak 1964).
    lam = (0.01, 1.0)
    _, _, grad = _quadratic(5, lam)
    theta0 = np.array([1.0, 1.0])
    k = 100.0
    eta_gd = 2.0 / (lam[0] + lam[1])
    gd = minimize(grad, theta0, "sgd", 100, lr=eta_gd)
    beta = ((np.sqrt(k) - 1) / (np.sqrt(k) + 1)) ** 2
    eta_hb = 4.0 / (np.sqrt(lam[0]) + np.sqrt(lam[1])) ** 2
    hb = minimize(grad, theta0, "momentum", 100, lr=eta_hb, beta=beta)
    assert np.linalg.norm(hb[-1]) < 1e-5 < 0.1 < np.linalg.norm(gd[-1])


def _rosen_grad(th):
    x, y = th
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


@pytest.mark.parametrize("name, hyper, steps", [
    ("adam", {"lr": 0.02}, 4000),
    ("momentum", {"lr": 1e-3, "beta": 0.9}, 4000),
    ("nesterov", {"lr": 1e-3, "alpha": 0.9}, 4000),
])
def test_convergence_on_rosenbrock(name, hyper, steps):
    traj = minimize(_rosen_grad, [-1.2, 1.0], name, steps, **hyper)
    np.testing.assert_allclose(traj[-1], [1.0, 1.0], atol=1e-3)


# ------------------------------------------------------------------------------------------
# minimize
# ------------------------------------------------------------------------------------------

def test_minimize_shape_start_and_schedule():
    grad = lambda th: 2 * th                                # L = ‖θ‖²
    theta0 = np.array([1.0, -1.0, 2.0])
    traj = minimize(grad, theta0, "sgd", 7, lr=lambda t: 0.1 * 0.5 ** t)
    assert traj.shape == (8, 3) and traj.dtype == np.float64
    np.testing.assert_array_equal(traj[0], theta0)
    # θ_{t+1} = (1 − 2 η_t) θ_t with η_t = 0.1 · 0.5ᵗ
    factors = np.cumprod([1 - 2 * 0.1 * 0.5 ** t for t in range(7)])
    np.testing.assert_allclose(traj[1:], factors[:, None] * theta0, rtol=1e-13)
    np.testing.assert_array_equal(theta0, [1.0, -1.0, 2.0])   # not mutated


def test_minimize_scalar_and_zero_steps():
    traj = minimize(lambda th: 2 * (th - 3), 0.0, "sgd", 0, lr=0.1)
    assert traj.shape == (1, 1) and traj[0, 0] == 0.0
    traj = minimize(lambda th: 2 * (th - 3), 0.0, sgd, 1, lr=0.25)
    np.testing.assert_allclose(traj[:, 0], [0.0, 1.5])       # 0 − 0.25·2·(0 − 3)


def test_minimize_divergence_gives_nan_rows_without_warnings():
    # η = 1.5 on L = θ²: θ_{t+1} = −2 θ_t, |θ| = 2ᵗ overflows after ~1024 steps.
    traj = minimize(lambda th: 2 * th, [1.0], "sgd", 1100, lr=1.5)
    assert traj.shape == (1101, 1)
    np.testing.assert_allclose(traj[10, 0], (-2.0) ** 10)
    assert np.isnan(traj[-1, 0]) and np.isfinite(traj[1000, 0])


def test_minimize_unknown_optimizer():
    with pytest.raises(ValueError, match="unknown optimizer"):
        minimize(lambda th: th, [1.0], "adamax", 3)


# ------------------------------------------------------------------------------------------
# Schedules
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("epoch, expected", [(0, 0.1), (4, 0.1), (5, 0.01), (9, 0.01),
                                             (10, 0.001), (17, 0.0001)])
def test_step_decay_values(epoch, expected):
    # η = η0 · 0.1^⌊epoch/5⌋ (÷10 every k = 5 epochs, deck 000)
    assert step_decay(0.1, drop=0.1, every=5)(epoch) == pytest.approx(expected, rel=1e-12)


def test_step_decay_default_and_errors():
    assert step_decay(1.0)(9) == 1.0 and step_decay(1.0)(10) == pytest.approx(0.1)
    assert step_decay(2.0, drop=0.5, every=3)(6) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        step_decay(1.0, every=0)
    with pytest.raises(ValueError):
        step_decay(1.0)(-1)


@pytest.mark.parametrize("losses, expected", [
    ([], 1.0),
    ([5, 4, 3, 2], 1.0),                         # always improving
    ([5, 5, 5], 1.0),                            # 2 bad epochs < patience 3
    ([5, 5, 5, 5], 0.1),                         # 3 bad epochs → ÷10
    ([5, 6, 7, 4.9, 6, 6], 1.0),                 # improvement resets the count
    ([5, 6, 6, 6, 6, 6, 6], 0.01),               # 6 bad epochs → two drops
    ([5, 6, 6, 6, 6, 6, 4, 6, 6], 0.1),          # one drop, then a reset
])
def test_plateau_lr_replays_history(losses, expected):
    schedule = plateau_lr(1.0, patience=3, factor=0.1)
    for loss in losses:
        schedule.observe(loss)
    assert schedule(len(losses)) == pytest.approx(expected, rel=1e-12)


def test_plateau_lr_is_a_schedule_of_the_epoch():
    # schedule(t) uses the first t losses told: the rate for epoch t; t beyond them uses all
    losses = [5, 6, 6, 6, 6, 6, 6]                      # drops after epochs 4 and 7 (patience 3)
    schedule = plateau_lr(1.0, patience=3)
    for loss in losses:
        schedule.observe(loss)
    rates = [schedule(t) for t in range(len(losses) + 3)]
    np.testing.assert_allclose(rates, [1.0] * 4 + [0.1] * 3 + [0.01] * 3, rtol=1e-12)
    assert schedule.losses == losses


def test_plateau_lr_tolerance_and_floor():
    # decreases of 0.001 do not count as improvement when min_delta = 0.01
    losses = [1.0, 0.999, 0.998, 0.997]
    assert told(plateau_lr(0.5, patience=3), losses) == 0.5
    assert told(plateau_lr(0.5, patience=3, min_delta=0.01), losses) == pytest.approx(0.05)
    assert told(plateau_lr(0.5, patience=1, min_lr=1e-3), [1.0] + [1.0] * 30) == 1e-3
    with pytest.raises(ValueError):
        plateau_lr(1.0, patience=0)


def told(schedule, losses):
    """The rate after telling ``schedule`` every loss."""
    for loss in losses:
        schedule.observe(loss)
    return schedule(len(losses))


def _triangle(t, base, top, s):
    # independent form of Smith's triangular wave: distance from the nearest peak
    return base + (top - base) * (1 - abs((t / s) % 2 - 1))


def test_cyclical_lr_triangular_key_points():
    base, top, s = 0.001, 0.006, 2000
    assert cyclical_lr(base, top, s)(0) == pytest.approx(base)
    assert cyclical_lr(base, top, s)(1000) == pytest.approx(0.0035)         # halfway up
    assert cyclical_lr(base, top, s)(2000) == pytest.approx(top)            # peak
    assert cyclical_lr(base, top, s)(3000) == pytest.approx(0.0035)         # halfway down
    assert cyclical_lr(base, top, s)(4000) == pytest.approx(base)           # end of cycle 1
    assert cyclical_lr(base, top, s)(6000) == pytest.approx(top)            # peak of cycle 2
    # Smith (2015)'s example defaults
    assert cyclical_lr()(2000) == pytest.approx(0.006) and cyclical_lr()(0) == pytest.approx(0.001)


@pytest.mark.parametrize("s", [1, 7, 50])
def test_cyclical_lr_matches_triangle_wave(s):
    for t in range(0, 6 * s + 3):
        assert cyclical_lr(0.1, 1.0, s)(t) == pytest.approx(_triangle(t, 0.1, 1.0, s), abs=1e-12)


def test_cyclical_lr_triangular2_and_exp_range():
    base, top, s = 0.0, 1.0, 10
    # triangular2: peak of cycle c is base + (top − base) / 2^(c−1)
    peaks = [cyclical_lr(base, top, s, mode="triangular2")(s + 2 * s * c) for c in range(4)]
    np.testing.assert_allclose(peaks, [1.0, 0.5, 0.25, 0.125])
    # exp_range: the triangle times γ^step
    g = 0.99
    for t in [0, 5, 10, 25, 33]:
        assert cyclical_lr(0.1, 1.0, s, mode="exp_range", gamma=g)(t) == pytest.approx(
            0.1 + 0.9 * (1 - abs((t / s) % 2 - 1)) * g ** t)
    with pytest.raises(ValueError, match="mode"):
        cyclical_lr(mode="cosine")


# ------------------------------------------------------------------------------------------
# Optimizer: the one owner of the state
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("shape", [(3,), (2, 4)])
def test_optimizer_threads_each_keys_state_like_the_pure_loop(name, shape):
    # oracle: the pure function with its state handed back by hand, one state per array
    rng = np.random.default_rng(len(shape))
    ws = {"a": rng.standard_normal(shape), "b": rng.standard_normal(shape[::-1])}
    grads = [{k: rng.standard_normal(w.shape) for k, w in ws.items()} for _ in range(4)]
    lrs = [0.1, 0.02, 0.05, 0.01]                       # a live change every step
    opt = optim.Optimizer(name)
    mine, ref, states = dict(ws), dict(ws), {"a": None, "b": None}
    for g, lr in zip(grads, lrs):
        opt.hyper["lr"] = lr
        for k in ws:
            mine[k] = opt.step(k, mine[k], g[k])
            ref[k], states[k] = OPTIMIZERS[name](ref[k], g[k], states[k], lr=lr)
    for k in ws:
        np.testing.assert_allclose(mine[k], ref[k], rtol=1e-13, atol=1e-15)
        assert opt.state[k]["t"] == 4 and opt.steps[k] == 4
    assert opt.t == 4


def test_optimizer_schedules_see_each_keys_step_count():
    seen = []
    opt = optim.Optimizer("sgd", lr=lambda t: seen.append(t) or 0.5 ** t)
    w = np.ones(2)
    for _ in range(3):
        w = opt.step("w", w, np.ones(2))                # w_{t+1} = w_t − 0.5ᵗ
    opt.step("other", np.zeros(1), np.ones(1))
    assert seen == [0, 1, 2, 0]
    np.testing.assert_allclose(w, 1 - (1 + 0.5 + 0.25))


def test_optimizer_same_method_keeps_state_another_starts_afresh_reset_forgets():
    from functools import partial
    g = np.array([0.3, -2.0])
    opt = optim.Optimizer("adam", lr=0.1)
    w = opt.step("w", np.zeros(2), g)
    opt.update = partial(adam, beta1=0.5)                # a rebuilt rule: the run continues
    w2 = opt.step("w", w, g)
    ref, state = adam(np.zeros(2), g, None, lr=0.1)
    ref, state = adam(ref, g, state, lr=0.1, beta1=0.5)
    np.testing.assert_allclose(w2, ref, rtol=1e-14)
    assert opt.state["w"]["t"] == 2
    opt.update = "momentum"                              # another method: Adam's moments go
    w3 = opt.step("w", w2, g)
    np.testing.assert_allclose(w3, momentum(w2, g, None, lr=0.1)[0], rtol=1e-14)
    assert opt.steps["w"] == 1 and set(opt.state["w"]) == {"t", "v"}
    opt.reset()
    assert opt.state == {} and opt.steps == {} and opt.t == 0
    assert "adam" in repr(optim.Optimizer("adam", lr=0.1)) and "lr=0.1" in repr(optim.Optimizer("adam", lr=0.1))


def test_optimizer_errors_say_what_to_pass():
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'.*adam"):
        optim.Optimizer("adamax")
    with pytest.raises(TypeError, match="update"):
        optim.Optimizer(0.1)


def test_minimize_continues_an_optimizer_run():
    # two runs of 5 steps through one Optimizer equal one run of 10 (momentum's v carries on)
    grad = lambda th: np.array([2.0, 20.0]) * th
    whole = minimize(grad, [1.0, 1.0], "momentum", 10, lr=0.01, beta=0.9)
    opt = optim.Optimizer("momentum", lr=0.01, beta=0.9)
    first = minimize(grad, [1.0, 1.0], opt, 5)
    second = minimize(grad, first[-1], opt, 5)
    np.testing.assert_allclose(np.vstack([first, second[1:]]), whole, rtol=1e-14)


# ------------------------------------------------------------------------------------------
# Clipping
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 100.0])
def test_clip_by_norm_caps_norm_and_keeps_direction(shape, max_norm):
    g = 3.0 * np.random.default_rng(10).standard_normal(shape)
    g0 = g.copy()
    c = clip_by_norm(g, max_norm)
    n = np.linalg.norm(g.ravel())
    np.testing.assert_array_equal(g, g0)
    assert c.shape == g.shape
    np.testing.assert_allclose(np.linalg.norm(c.ravel()), min(n, max_norm), rtol=1e-13)
    cos = c.ravel() @ g.ravel() / (np.linalg.norm(c.ravel()) * n)
    assert cos == pytest.approx(1.0, abs=1e-14)
    if n <= max_norm:
        np.testing.assert_array_equal(c, g)


def test_clip_by_norm_global_over_list():
    rng = np.random.default_rng(11)
    parts = [rng.standard_normal((3, 4)), rng.standard_normal(5), rng.standard_normal((2, 2, 2))]
    total = np.linalg.norm(np.concatenate([p.ravel() for p in parts]))
    out = clip_by_norm(parts, 1.0)
    assert isinstance(out, list) and [o.shape for o in out] == [p.shape for p in parts]
    flat = np.concatenate([o.ravel() for o in out])
    np.testing.assert_allclose(np.linalg.norm(flat), 1.0, rtol=1e-13)
    for o, p in zip(out, parts):                               # same factor for every array
        np.testing.assert_allclose(o, p / total, rtol=1e-13)
    out = clip_by_norm(tuple(parts), 10 * total)               # below the cap: unchanged
    assert isinstance(out, tuple)
    for o, p in zip(out, parts):
        np.testing.assert_array_equal(o, p)


def test_clip_by_norm_zero_and_errors():
    np.testing.assert_array_equal(clip_by_norm(np.zeros(3), 1.0), np.zeros(3))
    with pytest.raises(ValueError):
        clip_by_norm(np.ones(3), 0.0)


def test_clip_by_norm_deck001_exploding_example():
    # Deck 001: W = diag(1, 2), x = (1, 1): ∇y → (n, n·2^{n−1}); for n = 30 clip to norm 1.
    n = 30
    g = np.array([n, n * 2.0 ** (n - 1)])
    c = clip_by_norm(g, 1.0)
    np.testing.assert_allclose(c, g / np.hypot(g[0], g[1]), rtol=1e-14)


@pytest.mark.parametrize("c", [0.5, 2.0])
def test_clip_by_value(c):
    g = 3.0 * np.random.default_rng(12).standard_normal((6, 5))
    g0 = g.copy()
    out = clip_by_value(g, c)
    np.testing.assert_array_equal(g, g0)
    inside = np.abs(g) <= c
    np.testing.assert_array_equal(out[inside], g[inside])
    np.testing.assert_array_equal(out[~inside], c * np.sign(g[~inside]))
    lst = clip_by_value([g, -g], c)
    assert isinstance(lst, list)
    np.testing.assert_array_equal(lst[1], -out)
    with pytest.raises(ValueError):
        clip_by_value(g, 0)


def test_module_header_names_decks():
    assert "deck 000" in optim.__doc__ and "deck 001" in optim.__doc__


# ------------------------------------------------------------------------------------------
# Weight decay: the L2 penalty and decoupled decay (AdamW)
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lam", [0.0, 1e-3, 0.7])
def test_l2_penalty_matches_autograd(seed, lam):
    import autograd.numpy as anp
    from autograd import grad

    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((3, 4)), rng.standard_normal((4,)), rng.standard_normal((2, 1, 5))]
    penalty, grads = l2_penalty(weights, lam)
    # the definition, entry by entry: (λ/2) Σ_l Σ_ij W_ij²
    assert penalty == pytest.approx(0.5 * lam * sum(float(v) ** 2 for w in weights for v in w.ravel()),
                                    rel=1e-12, abs=1e-15)
    for i, w in enumerate(weights):
        def R(wi, i=i):
            return 0.5 * lam * sum(anp.sum((wi if j == i else wj) ** 2) for j, wj in enumerate(weights))
        np.testing.assert_allclose(grads[i], grad(R)(w), rtol=1e-12, atol=1e-15)
        assert grads[i].shape == w.shape


def test_l2_penalty_of_no_weights_and_inputs_untouched():
    w = np.array([[1.0, -2.0]])
    penalty, grads = l2_penalty([w], 0.5)
    assert penalty == pytest.approx(0.5 * 0.5 * 5.0)
    np.testing.assert_array_equal(w, [[1.0, -2.0]])
    assert grads[0] is not w
    assert l2_penalty([], 0.3) == (0.0, [])


def _adamw_by_the_paper(theta, grads, lr, beta1, beta2, eps, lam):
    """Loshchilov & Hutter (2019), Algorithm 2, with the schedule factor η_t = 1 and PyTorch's
    decay η λ θ, written out step by step as scalars per coordinate."""
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
        theta = theta - lr * (m_hat / (np.sqrt(v_hat) + eps) + lam * theta)
        out.append(theta)
    return out


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("shape", SHAPES)
def test_adamw_three_steps_by_the_paper(seed, shape):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(shape)
    gs = [rng.standard_normal(shape) for _ in range(3)]
    hyper = dict(lr=0.05, beta1=0.8, beta2=0.99, eps=1e-8)
    w, state = w0, None
    for k, g in enumerate(gs):
        w, state = adamw(w, g, state, weight_decay=0.3, **hyper)
        want = np.vectorize(lambda th, *gg: _adamw_by_the_paper(th, gg, lam=0.3, **hyper)[k])(w0, *gs)
        np.testing.assert_allclose(w, want, rtol=1e-12, atol=1e-14)


def test_adamw_first_step_is_sign_step_plus_decay_and_zero_decay_is_adam():
    w = np.array([2.0, -1.0, 0.5])
    g = np.array([1e-3, 50.0, -7.0])
    w1, _ = adamw(w, g, lr=0.1, weight_decay=0.2)
    np.testing.assert_allclose(w1, w - 0.1 * np.sign(g) - 0.1 * 0.2 * w, rtol=1e-6)
    np.testing.assert_allclose(adamw(w, g, lr=0.1, weight_decay=0.0)[0], adam(w, g, lr=0.1)[0], rtol=0, atol=0)


def test_adamw_with_zero_gradient_decays_by_one_minus_lr_lambda():
    w, state = np.array([1.0, -3.0]), None
    for t in range(1, 6):
        w, state = adamw(w, np.zeros(2), state, lr=0.1, weight_decay=0.5)
        np.testing.assert_allclose(w, np.array([1.0, -3.0]) * (1 - 0.05) ** t, rtol=1e-12)
    assert inspect_defaults(adamw)["weight_decay"] == 1e-2          # PyTorch's AdamW default


def inspect_defaults(f):
    import inspect
    return {k: p.default for k, p in inspect.signature(f).parameters.items()
            if p.default is not inspect.Parameter.empty}


def test_adamw_is_not_adam_with_l2():
    """L2 through Adam is divided by √v̂ like the rest of the gradient: a weight whose loss
    gradient is tiny is pulled to the penalized minimum s/(s + λ), one whose gradient is large
    hardly at all.  Decoupled decay treats both alike: Adam's normalized step on C meets the
    same −ηλθ in every coordinate."""
    lam, lr = 0.1, 0.01
    scale = np.array([100.0, 0.01])                      # C(θ) = ½ Σ s_i (θ_i − 1)²
    def grad_c(th):
        return scale * (th - 1.0)
    a = b = np.array([3.0, 3.0])
    sa = sb = None
    for _ in range(2000):
        a, sa = adamw(a, grad_c(a), sa, lr=lr, weight_decay=lam)
        b, sb = adam(b, grad_c(b) + lam * b, sb, lr=lr)        # Adam on C + (λ/2)‖θ‖²
    # L2 + Adam: the minimum of C + (λ/2)‖θ‖², θ_i = s_i / (s_i + λ): 0.999 and 0.091
    np.testing.assert_allclose(b, scale / (scale + lam), rtol=1e-3)
    # AdamW: both coordinates alike, and the flat one far from L2's 0.091
    assert abs(a[0] - a[1]) < 1e-3
    assert a[1] > 0.9


# ------------------------------------------------------------------------------------------
# The learning-rate range test
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("curvature", [0.5, 4.0, 40.0])
def test_lr_range_test_stops_past_the_stability_limit(curvature):
    """GD on C(θ) = (a/2)‖θ‖² multiplies θ by (1 − ηa) per step: the loss grows once η > 2/a.
    The test must run past 2/a and stop soon after (the loss is multiplied by (1 − ηa)² ≥ 1)."""
    theta = np.ones(3)
    def step(lr):
        nonlocal theta
        loss = 0.5 * curvature * theta @ theta
        theta = theta - lr * curvature * theta
        return loss
    lrs, losses = lr_range_test(step, lr_min=1e-4, lr_max=100.0, steps=200)
    assert len(lrs) == len(losses) < 200
    np.testing.assert_allclose(lrs, np.geomspace(1e-4, 100.0, 200)[:len(lrs)], rtol=1e-12)
    assert lrs[-1] > 2 / curvature                       # stopped only past the limit
    assert losses[-1] > 4 * losses.min()
    assert lrs[-1] < 4 * (2 / curvature)                 # and not long after
    assert np.all(np.diff(losses[lrs < 1 / curvature]) <= 0)   # below 1/a every step lowers C


def test_lr_range_test_stops_on_nan_and_checks_its_arguments():
    calls = []
    def step(lr):
        calls.append(lr)
        return np.nan if len(calls) == 3 else 1.0
    lrs, losses = lr_range_test(step, 1e-3, 1.0, steps=10)
    assert len(lrs) == 3 and np.isnan(losses[-1])
    with pytest.raises(ValueError, match="lr_min < lr_max"):
        lr_range_test(step, 1.0, 0.1)
    with pytest.raises(ValueError, match="at least 2"):
        lr_range_test(step, 0.1, 1.0, steps=1)


# ------------------------------------------------------------------------------------------
# Early stopping
# ------------------------------------------------------------------------------------------

def _early_stopping_by_brute_force(losses, patience):
    """From the definition: the first epoch e with min(losses[:e+1]) first reached ≥ patience
    epochs before e; the best is the first argmin of losses[:stop+1]."""
    for e in range(len(losses)):
        first_min = int(np.argmin(losses[:e + 1]))
        if e - first_min >= patience:
            return first_min, e
    return int(np.argmin(losses)), len(losses) - 1


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("patience", [1, 3, 10])
def test_early_stopping_matches_its_definition(seed, patience):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    losses = list(np.round(np.cumsum(rng.normal(scale=0.3, size=n)) + 5, 1))   # ties happen
    assert optim.early_stopping(losses, patience) == _early_stopping_by_brute_force(losses, patience)


def test_early_stopping_worked_cases():
    assert optim.early_stopping([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9], 3) == (2, 5)
    assert optim.early_stopping([1.0, 1.0, 1.0], 2) == (0, 2)            # a tie is no progress
    assert optim.early_stopping([3.0, 2.0, 1.0], 1) == (2, 2)            # never stops early
    assert optim.early_stopping([0.5], 5) == (0, 0)
    with pytest.raises(ValueError, match="patience"):
        optim.early_stopping([1.0], 0)
