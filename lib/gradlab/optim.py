"""Optimizers, learning-rate schedules and gradient clipping.

This module is the reference for the optimizer part of the course: gradient descent and its
stochastic / mini-batch variants (deck 000, "Gradient Descent"; deck 001, "Optimization"),
momentum in *both* lecture conventions, Nesterov momentum (deck 001), the adaptive methods
AdaGrad, RMSProp and Adam (decks 000 and 001), learning-rate schedules (deck 000: decay on a
plateau, step decay, cyclical rates) and gradient clipping (deck 001, deck 003).

One signature for every optimizer
---------------------------------
::

    next_w, state = update(w, dw, state=None, **hyper)

* ``w`` is the current parameter array θ, ``dw`` the gradient ∇θL evaluated at ``w``
  (a mini-batch estimate g in deck 001's notation).
* ``state`` is ``None`` on the first call; afterwards pass back what the previous call
  returned.  It is a plain dict holding the step count ``"t"`` and whatever running
  quantities the method needs (velocity, squared-gradient accumulators, moments).
* The functions are pure: ``w``, ``dw`` and the incoming ``state`` are never modified; a new
  array and a new dict are returned.  The learning rate may change from call to call, which
  is how a schedule (below) plugs in: ``update(w, dw, state, lr=schedule(t))``.

Notation
--------
The course writes the learning rate as η (deck 000).  Deck 001 writes it as ε and calls the
small stabilising constant δ; deck 001's momentum coefficient is α, deck 000's is β.  Every
function below names both spellings in its comments.

The two momentum conventions
----------------------------
Deck 000 (accumulated gradient)::       Deck 001 (velocity is the step)::

    v ← β v + ∇L                            v ← α v − ε g
    θ ← θ − η v                             θ ← θ + v

With ε = η, α = β and both velocities starting at zero, induction gives
``v₀₀₁ = −η · v₀₀₀`` after every step (``β(−η v₀₀₀) − η g = −η(β v₀₀₀ + g)``), hence
``θ + v₀₀₁ = θ − η v₀₀₀``: the trajectories coincide.  They differ only when η changes during
training: deck 000's velocity is rescaled by the *new* η, deck 001's keeps the old steps.
:func:`momentum` implements deck 000, :func:`momentum_velocity` deck 001.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "sgd", "momentum", "momentum_velocity", "nesterov", "adagrad", "rmsprop", "adam",
    "OPTIMIZERS", "step_decay", "plateau_lr", "cyclical_lr", "clip_by_value", "clip_by_norm",
    "minimize",
]


def _as_float(a):
    """Return ``a`` as a float64 array (a copy is *not* forced; callers never write into it)."""
    return np.asarray(a, dtype=np.float64)


def _start(state, w, *names):
    """Copy ``state`` (or create it) so the caller's dict is never mutated.

    Missing accumulators named in ``names`` start as zeros shaped like ``w``; ``t`` starts at 0.
    """
    new = {} if state is None else dict(state)
    new.setdefault("t", 0)
    for name in names:
        if name not in new:
            new[name] = np.zeros_like(w)
    return new


# --------------------------------------------------------------------------------------------
# Plain gradient descent
# --------------------------------------------------------------------------------------------

def sgd(w, dw, state=None, lr=1e-2):
    """(Stochastic / mini-batch) gradient descent: one step against the gradient.

    Deck 000: θ_{t+1} ← θ_t − η ∇θ L.  Whether this is full-batch GD, SGD or mini-batch SGD
    depends only on which examples ``dw`` was averaged over.

    Inputs:
    - w: parameters θ, any shape.
    - dw: gradient ∇θL at ``w``, same shape as ``w``.
    - state: ``None`` or the dict returned by the previous call (only the step count ``t``).
    - lr: learning rate η.  Default 1e-2: Bengio (2012), "Practical recommendations for
      gradient-based training of deep architectures", gives 0.01 as a typical starting value.

    Returns a tuple of:
    - next_w: updated parameters, same shape as ``w``.
    - state: new dict ``{"t": t + 1}``.
    """
    w, dw = _as_float(w), _as_float(dw)
    state = _start(state, w)
    state["t"] += 1
    next_w = w - lr * dw                         # θ ← θ − η ∇L               (deck 000)
    return next_w, state


# --------------------------------------------------------------------------------------------
# Momentum, both conventions, and Nesterov
# --------------------------------------------------------------------------------------------

def momentum(w, dw, state=None, lr=1e-2, beta=0.9):
    """Gradient descent with momentum in deck 000's convention (accumulated gradient).

    Deck 000, "Mini-batch SGD with momentum":  v_{t+1} ← β v_t + ∇θL,  θ_{t+1} ← θ_t − η v_{t+1}.
    Here ``v`` is a (leaky) sum of gradients, measured in gradient units; η turns it into a step.

    Inputs:
    - w: parameters θ, any shape.
    - dw: gradient ∇θL at ``w``, same shape as ``w``.
    - state: ``None`` or the previous dict ``{"t", "v"}``.
    - lr: learning rate η.  Default 1e-2 (Bengio 2012, see :func:`sgd`).
    - beta: momentum β.  Default 0.9, the value deck 000 recommends.

    Returns a tuple of:
    - next_w: updated parameters, same shape as ``w``.
    - state: new dict with ``t`` and the velocity ``v`` (same shape as ``w``).
    """
    w, dw = _as_float(w), _as_float(dw)
    state = _start(state, w, "v")
    state["t"] += 1
    v = beta * state["v"] + dw                   # v ← β v + ∇L               (deck 000)
    next_w = w - lr * v                          # θ ← θ − η v                (deck 000)
    state["v"] = v
    return next_w, state


def momentum_velocity(w, dw, state=None, lr=1e-2, alpha=0.9):
    """Gradient descent with momentum in deck 001's convention (velocity is the step).

    Deck 001:  v ← α v − ε g,  θ ← θ + v.  Here ``v`` is measured in parameter units: it *is*
    the step taken.  With ε = η and α = β this is the same algorithm as :func:`momentum`, with
    ``v₀₀₁ = −η v₀₀₀`` at every step (see the module docstring) — as long as η is constant.

    Inputs:
    - w: parameters θ, any shape.
    - dw: gradient estimate g at ``w``, same shape as ``w``.
    - state: ``None`` or the previous dict ``{"t", "v"}``.
    - lr: learning rate ε (deck 001's symbol; η in deck 000).  Default 1e-2 (Bengio 2012).
    - alpha: momentum α ∈ [0, 1).  Default 0.9, the value deck 000 recommends for its β; the
      same 0.9 is the usual choice in Sutskever et al. (2013).

    Returns a tuple of:
    - next_w: updated parameters, same shape as ``w``.
    - state: new dict with ``t`` and the velocity ``v`` (same shape as ``w``).
    """
    w, dw = _as_float(w), _as_float(dw)
    state = _start(state, w, "v")
    state["t"] += 1
    v = alpha * state["v"] - lr * dw             # v ← α v − ε g              (deck 001)
    next_w = w + v                               # θ ← θ + v                  (deck 001)
    state["v"] = v
    return next_w, state


def nesterov(w, dw, state=None, lr=1e-2, alpha=0.9):
    """Nesterov momentum (deck 001), written so that the gradient is taken at ``w``.

    Deck 001 states Nesterov with an interim (look-ahead) point:

        θ̃ ← θ + α v,   g ← ∇L(θ̃),   v ← α v − ε g,   θ ← θ + v.

    The gradient is needed at θ̃, not at θ.  To keep the common signature (``dw`` is the
    gradient at the ``w`` we are given) this function stores and returns the *look-ahead*
    point itself, w = θ̃ = θ + α v (the change of variables of Bengio, Boulanger-Lewandowski and
    Pascanu 2013, "Advances in optimizing recurrent networks").  Substituting θ = w − α v:

        v_new ← α v − ε g                      (g = ∇L(w), i.e. at the look-ahead point)
        w_new ← w + v_new + α (v_new − v)      = θ_new + α v_new, the next look-ahead point

    So the sequence of ``w`` returned here is θ̃_t = θ_t + α v_t of deck 001's form; when v = 0
    (the start, or at convergence) the two coincide.

    Inputs:
    - w: the look-ahead parameters θ̃ (on the first call simply θ, since v = 0).
    - dw: gradient ∇L(w), same shape as ``w``.
    - state: ``None`` or the previous dict ``{"t", "v"}``.
    - lr: learning rate ε (η).  Default 1e-2 (Bengio 2012).
    - alpha: momentum α.  Default 0.9 (deck 000's recommended momentum; Sutskever et al. 2013).

    Returns a tuple of:
    - next_w: the next look-ahead point θ̃, same shape as ``w``.
    - state: new dict with ``t`` and the velocity ``v`` (deck 001's convention).
    """
    w, dw = _as_float(w), _as_float(dw)
    state = _start(state, w, "v")
    state["t"] += 1
    v_prev = state["v"]
    v = alpha * v_prev - lr * dw                 # v ← α v − ε ∇L(θ̃)           (deck 001)
    next_w = w + v + alpha * (v - v_prev)        # θ̃ ← θ + α v with θ ← θ + v  (deck 001)
    state["v"] = v
    return next_w, state


# --------------------------------------------------------------------------------------------
# Adaptive learning rates
# --------------------------------------------------------------------------------------------

def adagrad(w, dw, state=None, lr=1e-2, eps=1e-7):
    """AdaGrad (Duchi, Hazan and Singer 2011): per-coordinate steps shrink with past gradients.

    Deck 001:  r ← r + g ⊙ g,   θ ← θ − ε / (δ + √r) ⊙ g.
    Coordinates with a history of large gradients get small steps, gently sloped ones larger
    steps; since r only grows, the effective rate only decays (deck 001 warns it can decay too
    early on non-convex problems, which motivates RMSProp).

    Inputs:
    - w: parameters θ, any shape.
    - dw: gradient g at ``w``, same shape as ``w``.
    - state: ``None`` or the previous dict ``{"t", "r"}``.
    - lr: global learning rate ε.  Default 1e-2, the usual library default (Duchi et al. 2011
      leave the global rate to be tuned; deck 001 gives no value).
    - eps: δ, keeps the division finite when r = 0.  Default 1e-7: Goodfellow, Bengio and
      Courville (2016), "Deep Learning", Algorithm 8.4 (the form deck 001 shows).

    Returns a tuple of:
    - next_w: updated parameters, same shape as ``w``.
    - state: new dict with ``t`` and the accumulated squared gradient ``r``.
    """
    w, dw = _as_float(w), _as_float(dw)
    state = _start(state, w, "r")
    state["t"] += 1
    r = state["r"] + dw * dw                     # r ← r + g ⊙ g              (deck 001)
    next_w = w - lr / (eps + np.sqrt(r)) * dw    # θ ← θ − ε/(δ + √r) ⊙ g     (deck 001)
    state["r"] = r
    return next_w, state


def rmsprop(w, dw, state=None, lr=1e-3, rho=0.9, eps=1e-8):
    """RMSProp (Hinton, Neural Networks for Machine Learning, lecture 6e, 2012).

    Deck 001:  r ← ρ r + (1 − ρ) g ⊙ g,   θ ← θ − ε / (δ + √r) ⊙ g.
    AdaGrad's sum becomes an exponentially decaying average, so old gradients are forgotten and
    the step size no longer decays for ever; in deck 000's summary it separates the
    step size from the size of the gradient (the step is ≈ ε · g/RMS(g), whatever g's scale).

    Inputs:
    - w: parameters θ, any shape.
    - dw: gradient g at ``w``, same shape as ``w``.
    - state: ``None`` or the previous dict ``{"t", "r"}``.
    - lr: learning rate ε.  Default 1e-3, the base rate Kingma & Ba (2015) also use for Adam
      (RMSProp's successor); lecture 6e leaves it to be tuned.
    - rho: decay ρ of the mean square.  Default 0.9: lecture 6e's
      ``MeanSquare ← 0.9 MeanSquare + 0.1 g²``; 0.99 is the other common choice.
    - eps: δ, placed outside the square root as deck 001 writes it.  Default 1e-8, the value of
      Kingma & Ba (2015) for the same role in Adam.

    Returns a tuple of:
    - next_w: updated parameters, same shape as ``w``.
    - state: new dict with ``t`` and the mean square ``r``.
    """
    w, dw = _as_float(w), _as_float(dw)
    state = _start(state, w, "r")
    state["t"] += 1
    r = rho * state["r"] + (1 - rho) * dw * dw   # r ← ρ r + (1 − ρ) g ⊙ g    (deck 001)
    next_w = w - lr / (eps + np.sqrt(r)) * dw    # θ ← θ − ε/(δ + √r) ⊙ g     (deck 001)
    state["r"] = r
    return next_w, state


def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam (Kingma & Ba 2015): RMSProp + momentum, with bias correction.

    Deck 001 (ρ₁, ρ₂ are Kingma & Ba's β₁, β₂; ε is the learning rate, δ the constant)::

        t ← t + 1
        m ← β₁ m + (1 − β₁) g            first moment  (deck 001: v ← ρ₁ v + (1 − ρ₁) g)
        v ← β₂ v + (1 − β₂) g ⊙ g        second moment (deck 001: r ← ρ₂ r + (1 − ρ₂) g²)
        m̂ ← m / (1 − β₁ᵗ),  v̂ ← v / (1 − β₂ᵗ)           bias correction
        θ ← θ − η m̂ / (√v̂ + δ)

    m and v start at zero, so without the correction they are biased towards zero for small t.
    With it, the first step is m̂ = g, v̂ = g², i.e. θ moves by η · g / (|g| + δ) ≈ η · sign(g)
    in every coordinate, whatever the gradient's scale.

    Inputs:
    - w: parameters θ, any shape.
    - dw: gradient g at ``w``, same shape as ``w``.
    - state: ``None`` or the previous dict ``{"t", "m", "v"}``.
    - lr: step size η (Kingma & Ba's α).  Default 1e-3 (Kingma & Ba 2015, Algorithm 1).
    - beta1: decay β₁ of the first moment.  Default 0.9 (Kingma & Ba 2015).
    - beta2: decay β₂ of the second moment.  Default 0.999 (Kingma & Ba 2015).
    - eps: δ (Kingma & Ba's ε).  Default 1e-8 (Kingma & Ba 2015).

    Returns a tuple of:
    - next_w: updated parameters, same shape as ``w``.
    - state: new dict with ``t`` and the raw (uncorrected) moments ``m`` and ``v``.
    """
    w, dw = _as_float(w), _as_float(dw)
    state = _start(state, w, "m", "v")
    t = state["t"] + 1                                    # t ← t + 1
    m = beta1 * state["m"] + (1 - beta1) * dw             # m ← β₁ m + (1 − β₁) g      (deck 001)
    v = beta2 * state["v"] + (1 - beta2) * dw * dw        # v ← β₂ v + (1 − β₂) g ⊙ g  (deck 001)
    m_hat = m / (1 - beta1 ** t)                          # bias correction             (deck 001)
    v_hat = v / (1 - beta2 ** t)
    next_w = w - lr * m_hat / (np.sqrt(v_hat) + eps)      # θ ← θ − η m̂ / (√v̂ + δ)
    state.update(t=t, m=m, v=v)
    return next_w, state


#: Every optimizer by name, for notebooks and the playground widget.
OPTIMIZERS: dict[str, Callable] = {
    "sgd": sgd,
    "momentum": momentum,
    "momentum_velocity": momentum_velocity,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
}


# --------------------------------------------------------------------------------------------
# Learning-rate schedules (pure functions of the step / epoch / history)
# --------------------------------------------------------------------------------------------

def step_decay(lr0, epoch, drop=0.1, every=10):
    """Step decay: multiply the rate by ``drop`` every ``every`` epochs.

    η(epoch) = η₀ · drop^⌊epoch / every⌋.   Deck 000's heuristic of dividing the rate by
    10 every k epochs is ``drop=0.1, every=k``.

    Inputs:
    - lr0: initial learning rate η₀.
    - epoch: epoch number, counted from 0 (int >= 0).
    - drop: multiplicative factor.  Default 0.1, deck 000's division by 10.
    - every: k, epochs between drops.  Default 10: deck 000 leaves k open; 10 is our choice for
      the notebooks' short runs.

    Returns:
    - lr: the learning rate for this epoch (float).
    """
    if every < 1:
        raise ValueError(f"step_decay: every must be a positive number of epochs, got {every}")
    if epoch < 0:
        raise ValueError(f"step_decay: epoch must be >= 0, got {epoch}")
    return float(lr0 * drop ** (int(epoch) // int(every)))


def plateau_lr(lr0, losses, patience=10, factor=0.1, min_delta=0.0, min_lr=0.0):
    """Decay on a plateau, as a pure function of the loss history.

    Deck 000's heuristic: once the loss has stopped improving (up to a tolerance) for k epochs,
    divide the rate by 10.  The history is replayed from the start: an epoch *improves* when its
    loss is below the best loss so far by more than ``min_delta``; after ``patience``
    consecutive epochs without improvement the rate is multiplied by ``factor`` and the count
    starts again (the best loss is kept).

    Inputs:
    - lr0: initial learning rate η₀.
    - losses: sequence of per-epoch losses seen so far (may be empty).
    - patience: k, epochs without improvement before a drop.  Default 10, the default of the
      common "reduce on plateau" callbacks (deck 000 leaves k open).
    - factor: multiplicative drop.  Default 0.1, deck 000's division by 10.
    - min_delta: the tolerance: an improvement must beat the best loss by more than this.
      Default 0.0 (any decrease counts).
    - min_lr: the rate never drops below this.  Default 0.0 (no floor).

    Returns:
    - lr: the learning rate to use for the next epoch (float).
    """
    if patience < 1:
        raise ValueError(f"plateau_lr: patience must be >= 1 epoch, got {patience}")
    lr, best, waited = float(lr0), np.inf, 0
    for loss in losses:
        if loss < best - min_delta:          # improved (within the tolerance)
            best, waited = loss, 0
        else:
            waited += 1
            if waited >= patience:           # k epochs without improvement → η ← η · factor
                lr, waited = max(lr * factor, min_lr), 0
    return float(lr)


def cyclical_lr(step, base_lr=1e-3, max_lr=6e-3, step_size=2000, mode="triangular", gamma=1.0):
    """Cyclical learning rate (Smith 2015, arXiv:1506.01186; deck 000).

    The rate goes linearly from ``base_lr`` up to ``max_lr`` in ``step_size`` iterations and back
    down in as many; one cycle is ``2 * step_size`` iterations.  Smith's formulas::

        cycle = ⌊1 + step / (2 · step_size)⌋
        x     = |step / step_size − 2 · cycle + 1|
        lr    = base_lr + (max_lr − base_lr) · max(0, 1 − x) · scale

    with scale = 1 ("triangular"), 1 / 2^(cycle−1) ("triangular2": the amplitude halves each
    cycle) or gamma^step ("exp_range").

    Inputs:
    - step: iteration number, counted from 0 (the rate changes every mini-batch, deck 000).
    - base_lr, max_lr: the bounds.  Defaults 0.001 and 0.006: Smith (2015)'s CIFAR-10 example.
    - step_size: half a cycle, in iterations.  Default 2000 (Smith 2015's example; he advises
      2–10 times the number of iterations per epoch).
    - mode: "triangular", "triangular2" or "exp_range" (Smith 2015's three policies).
    - gamma: decay per iteration for "exp_range".  Default 1.0 (no decay); Smith (2015) uses
      values just below 1, e.g. 0.99994.

    Returns:
    - lr: the learning rate for this iteration (float).
    """
    if step_size <= 0:
        raise ValueError(f"cyclical_lr: step_size must be positive, got {step_size}")
    cycle = np.floor(1 + step / (2 * step_size))
    x = abs(step / step_size - 2 * cycle + 1)
    if mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":
        scale = 1.0 / 2.0 ** (cycle - 1)
    elif mode == "exp_range":
        scale = gamma ** step
    else:
        raise ValueError(f"cyclical_lr: unknown mode {mode!r}; "
                         "use 'triangular', 'triangular2' or 'exp_range'")
    return float(base_lr + (max_lr - base_lr) * max(0.0, 1.0 - x) * scale)


# --------------------------------------------------------------------------------------------
# Gradient clipping — deck 001: exploding gradients make cliffs in the loss, and clipping tames
# them; deck 003 names clipping (with weight regularization) as the remedy for exploding gradients
# --------------------------------------------------------------------------------------------

def clip_by_value(g, c):
    """Clip every gradient entry to [−c, c].

    Simple, but changes the gradient's direction when only some entries are clipped (compare
    :func:`clip_by_norm`).

    Inputs:
    - g: a gradient array, or a list/tuple of arrays (e.g. one per layer).
    - c: threshold, c > 0.

    Returns:
    - the clipped gradient(s): new float64 array(s), same structure and shapes as ``g``.
    """
    if c <= 0:
        raise ValueError(f"clip_by_value: the threshold c must be positive, got {c}")
    if isinstance(g, (list, tuple)):
        return type(g)(np.clip(_as_float(gi), -c, c) for gi in g)
    return np.clip(_as_float(g), -c, c)


def clip_by_norm(g, max_norm):
    """Rescale a gradient whose norm exceeds ``max_norm`` so its norm equals ``max_norm``.

    Pascanu, Mikolov and Bengio (2013), "On the difficulty of training recurrent neural
    networks":  if ‖g‖ > threshold then g ← (threshold / ‖g‖) · g.  The direction is kept; only
    the length is capped.  For a list of arrays the norm is the *global* norm
    ‖g‖ = √(Σᵢ ‖gᵢ‖²) over all of them, and every array is scaled by the same factor.

    Inputs:
    - g: a gradient array, or a list/tuple of arrays (e.g. one per layer).
    - max_norm: the threshold, > 0.

    Returns:
    - the clipped gradient(s): new float64 array(s), same structure and shapes as ``g``.
    """
    if max_norm <= 0:
        raise ValueError(f"clip_by_norm: max_norm must be positive, got {max_norm}")
    is_seq = isinstance(g, (list, tuple))
    parts = [_as_float(gi) for gi in g] if is_seq else [_as_float(g)]
    norm = np.sqrt(sum(float(np.sum(p * p)) for p in parts))          # global ‖g‖
    scale = max_norm / norm if norm > max_norm else 1.0               # min(1, c / ‖g‖)
    clipped = [p * scale for p in parts]
    return type(g)(clipped) if is_seq else clipped[0]


# --------------------------------------------------------------------------------------------
# A tiny driver for the notebooks and the playground widget
# --------------------------------------------------------------------------------------------

def minimize(grad_fn, theta0, optimizer="sgd", steps=100, **hyper):
    """Run an optimizer for ``steps`` steps from ``theta0`` and return the whole trajectory.

    Inputs:
    - grad_fn: callable θ ↦ ∇L(θ), taking and returning an array of shape (n,).
    - theta0: starting point, shape (n,) (a scalar is treated as n = 1).
    - optimizer: a function with the common signature, or a name in :data:`OPTIMIZERS`.
    - steps: number of updates (int >= 0).
    - **hyper: hyperparameters passed to the optimizer on every step.  ``lr`` may also be a
      callable ``lr(t)`` of the step index t = 0, 1, …, e.g.
      ``lambda t: cyclical_lr(t, 0.01, 0.1, 20)``.

    Returns:
    - trajectory: array of shape (steps + 1, n); row 0 is ``theta0``, row t is θ after t steps.
      If θ stops being finite (a diverging run) the remaining rows are filled with NaN.
    """
    if isinstance(optimizer, str):
        try:
            optimizer = OPTIMIZERS[optimizer]
        except KeyError:
            raise ValueError(f"minimize: unknown optimizer {optimizer!r}; "
                             f"choose one of {sorted(OPTIMIZERS)}") from None
    theta = np.atleast_1d(_as_float(theta0)).copy()
    if theta.ndim != 1:
        raise ValueError(f"minimize: theta0 must be a vector of shape (n,), got {theta.shape}")
    lr = hyper.pop("lr", None)
    traj = np.full((steps + 1, theta.size), np.nan)
    traj[0] = theta
    state = None
    # A diverging run (η too large) is a lesson, not an error: overflow is expected there, so
    # it is silenced and the run is cut short with NaN rows instead.
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            if lr is not None:
                hyper["lr"] = lr(t) if callable(lr) else lr
            theta, state = optimizer(theta, _as_float(grad_fn(theta)), state, **hyper)
            if not np.all(np.isfinite(theta)):
                break
            traj[t + 1] = theta
    return traj
