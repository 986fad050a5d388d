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
  array and a new dict are returned.  Hyperparameters may change from call to call, which
  is how a schedule (below) plugs in: ``update(w, dw, state, lr=schedule(t))``.

:class:`Optimizer` is the one owner of that state: it holds an update rule, its ``hyper`` dict
(values or schedules, changeable between steps) and one state per parameter array, created
on that array's first update and forgotten only by ``reset()``.  :func:`minimize` and
``gradlab.network.MLP`` train through it.  Every schedule is a callable ``schedule(t)`` of a
count t (optax's shape); :func:`plateau_lr`'s is also told the losses.

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
from functools import partial

import numpy as np

__all__ = [
    "sgd", "momentum", "momentum_velocity", "nesterov", "adagrad", "rmsprop", "adam", "adamw",
    "l2_penalty", "OPTIMIZERS", "Optimizer", "step_decay", "plateau_lr", "Plateau", "cyclical_lr",
    "lr_range_test", "early_stopping", "clip_by_value", "clip_by_norm", "minimize",
]


def _as_float(a):
    """Return ``a`` as a float64 array (a copy is *not* forced; callers never write into it)."""
    return np.asarray(a, dtype=np.float64)


def _begin(w, dw, state, *names):
    """Start one step: ``w`` and ``dw`` as float64, and a new state dict with ``t`` advanced.

    The caller's ``state`` is copied, never mutated; ``t`` starts at 0 and now counts this
    step; accumulators named in ``names`` start as zeros shaped like ``w``.
    """
    new = {} if state is None else dict(state)
    new["t"] = new.get("t", 0) + 1
    w = _as_float(w)
    for name in names:
        if name not in new:
            new[name] = np.zeros_like(w)
    return w, _as_float(dw), new


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
    w, dw, state = _begin(w, dw, state)
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
    w, dw, state = _begin(w, dw, state, "v")
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
    w, dw, state = _begin(w, dw, state, "v")
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
    w, dw, state = _begin(w, dw, state, "v")
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
    w, dw, state = _begin(w, dw, state, "r")
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
    w, dw, state = _begin(w, dw, state, "r")
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
    w, dw, state = _begin(w, dw, state, "m", "v")
    t = state["t"]                                        # t ← t + 1
    m = beta1 * state["m"] + (1 - beta1) * dw             # m ← β₁ m + (1 − β₁) g      (deck 001)
    v = beta2 * state["v"] + (1 - beta2) * dw * dw        # v ← β₂ v + (1 − β₂) g ⊙ g  (deck 001)
    m_hat = m / (1 - beta1 ** t)                          # bias correction             (deck 001)
    v_hat = v / (1 - beta2 ** t)
    next_w = w - lr * m_hat / (np.sqrt(v_hat) + eps)      # θ ← θ − η m̂ / (√v̂ + δ)
    state.update(m=m, v=v)
    return next_w, state


# --------------------------------------------------------------------------------------------
# Weight decay: as a penalty in the loss, or decoupled from the gradient
# --------------------------------------------------------------------------------------------

def l2_penalty(weights, lam):
    """The L2 penalty (weight regularization, deck 003) of a list of weight arrays, and its gradients.

        R(W) = (λ/2) Σ_l ‖W^l‖²   (the sum of every squared entry),   ∂R/∂W^l = λ W^l

    Added to the loss, C + R, it pulls every weight towards 0 by λW in each gradient step: with
    plain SGD, θ ← θ − η(∇C + λθ) = (1 − ηλ)θ − η∇C, the weights *decay* by the factor
    (1 − ηλ) per step, hence "weight decay".  Biases and batch-norm's γ, β are usually left out
    (pass only the weight matrices): they do not multiply inputs, so they do not make the
    function steep.

    Inputs:
    - weights: a list of arrays W^l (any shapes)
    - lam: λ >= 0, the strength

    Returns a tuple of:
    - penalty: float, R(W)
    - grads: list of arrays λ W^l, shaped like ``weights``
    """
    penalty = 0.5 * lam * sum(float(np.sum(np.square(w))) for w in weights)   # (λ/2) Σ ‖W‖²
    return penalty, [lam * np.asarray(w, dtype=np.float64) for w in weights]  # λ W


def adamw(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    """AdamW (Loshchilov & Hutter 2019, "Decoupled weight decay regularization", Algorithm 2).

    Adam's step on the gradient of the loss alone, and the decay applied to the weights
    directly, outside the adaptive scaling::

        θ ← θ − η m̂ / (√v̂ + δ) − η λ θ          (λ θ uses the θ before this step)

    Adam with an L2 penalty instead adds λθ to the *gradient*; Adam then divides it by √v̂ like
    the rest, so a weight with large gradients is decayed less, one with small gradients more,
    and the decay is no longer the (1 − ηλ) of plain SGD.  AdamW keeps it at (1 − ηλ) per step
    for every weight.  (Loshchilov & Hutter multiply the decay by a schedule factor η_t alone;
    PyTorch's AdamW, followed here, by the learning rate.)

    Inputs:
    - w, dw, state, lr, beta1, beta2, eps: as in :func:`adam` (``dw`` holds no penalty term).
    - weight_decay: λ.  Default 1e-2, PyTorch's AdamW default.

    Returns a tuple of:
    - next_w: updated parameters, same shape as ``w``.
    - state: as :func:`adam`'s.
    """
    next_w, state = adam(w, dw, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    next_w = next_w - lr * weight_decay * _as_float(w)   # − η λ θ, outside Adam's scaling
    return next_w, state


#: Every optimizer by name: the names :class:`Optimizer`, :func:`minimize` and ``MLP`` accept.
OPTIMIZERS: dict[str, Callable] = {
    "sgd": sgd,
    "momentum": momentum,
    "momentum_velocity": momentum_velocity,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
}


# --------------------------------------------------------------------------------------------
# The owner of the optimizer state
# --------------------------------------------------------------------------------------------

def _as_update(update):
    """The update function named by ``update`` (a key of :data:`OPTIMIZERS`) or ``update`` itself."""
    if isinstance(update, str):
        try:
            return OPTIMIZERS[update]
        except KeyError:
            raise ValueError(f"unknown optimizer {update!r}; choose one of {sorted(OPTIMIZERS)} "
                             "or pass a function update(w, dw, state=None, **hyper)") from None
    if not callable(update):
        raise TypeError(f"an optimizer is a name in OPTIMIZERS or a function "
                        f"update(w, dw, state=None, **hyper); got {type(update).__name__}")
    return update


def _method(update):
    """The function behind an update rule: a ``functools.partial`` is its ``func``."""
    while isinstance(update, partial):
        update = update.func
    return update


class Optimizer:
    """One update rule, its hyperparameters, and the running state of every parameter it updates.

    The update functions above are pure; this object is the one place their state lives.  Each
    parameter array is updated under a key of the caller's choosing (``MLP`` uses "W1", "b1",
    "W2", ...); the first update of a key creates its state, every later one hands it back::

        opt = Optimizer("adam", lr=1e-3, beta1=0.9)
        w = opt.step("W1", w, dw)      # next_w, opt.state["W1"] = adam(w, dw, opt.state["W1"], **hyper)
        opt.hyper["lr"] = 0.01         # a live change: used from the next step on, state is kept
        opt.update = partial(adam, beta1=0.8)  # the same method, new defaults: state is kept
        opt.update = "momentum"        # another method: its state starts afresh
        opt.reset()                    # forget the state on purpose

    A hyperparameter may be a schedule, a callable of the step count t (see
    :func:`step_decay`, :func:`cyclical_lr`, :func:`plateau_lr`): each step uses
    ``value(t)``, where t counts the updates the key has had before this one (0, 1, 2, ...).

    What counts as the same method: the same function, or a ``functools.partial`` of it, so a
    partial rebuilt with other keywords between steps keeps Adam's moments and step count (the
    state belongs to the parameters, not to the function object).  A different method starts
    afresh: its accumulators mean something else (momentum would read Adam's ``"v"`` as its
    velocity).

    Inputs:
    - update: a name in :data:`OPTIMIZERS` or any function with the common signature
      ``update(w, dw, state=None, **hyper) -> (next_w, state)``.  Default "sgd".
    - **hyper: its hyperparameters (e.g. ``lr=0.1``), values or schedules; a name left out
      takes the update function's own default.

    Attributes:
    - update: the update function (assigning a name looks it up in :data:`OPTIMIZERS`).
    - hyper: dict of hyperparameters, read at every step.
    - state: dict key -> the update function's state for that parameter.
    - steps: dict key -> number of updates that parameter has had (the schedules' t).
    """

    def __init__(self, update="sgd", **hyper):
        self.state = {}
        self.steps = {}
        self.update = update
        self.hyper = dict(hyper)

    @property
    def update(self):
        """The update function ``update(w, dw, state=None, **hyper) -> (next_w, state)``."""
        return self._update

    @update.setter
    def update(self, update):
        update = _as_update(update)
        if _method(update) is not _method(getattr(self, "_update", None)):
            self.reset()                         # another method: its state means something else
        self._update = update

    @property
    def t(self):
        """The step count: the updates of the parameter updated most often (0 before any)."""
        return max(self.steps.values(), default=0)

    def step(self, key, w, dw):
        """Update one parameter array and keep its state.

        Inputs:
        - key: names the parameter (any hashable); its state is ``self.state[key]``.
        - w: the parameter array θ.
        - dw: the gradient ∇θL at ``w``, same shape as ``w``.

        Returns:
        - next_w: the updated parameters, same shape as ``w``.
        """
        t = self.steps.get(key, 0)
        hyper = self.hyper
        for value in hyper.values():
            if callable(value):                      # a schedule: every hyperparameter's value at t
                hyper = {k: v(t) if callable(v) else v for k, v in hyper.items()}
                break
        next_w, self.state[key] = self._update(w, dw, self.state.get(key), **hyper)
        self.steps[key] = t + 1
        return next_w

    def reset(self):
        """Forget every parameter's state and step count (velocities, moments, t)."""
        self.state.clear()
        self.steps.clear()

    def __repr__(self):
        name = getattr(self._update, "__name__", None) or repr(self._update)
        hyper = "".join(f", {k}={v!r}" for k, v in self.hyper.items())
        return f"Optimizer({name}{hyper})"


# --------------------------------------------------------------------------------------------
# Learning-rate schedules: each is a callable  schedule(t) -> value  of a count t
# --------------------------------------------------------------------------------------------

def step_decay(lr0, drop=0.1, every=10):
    """Step decay: multiply the rate by ``drop`` every ``every`` counts.

    η(t) = η₀ · drop^⌊t / every⌋.  Deck 000's heuristic of dividing the rate by 10 every k
    epochs is ``drop=0.1, every=k`` with t counting epochs.  An :class:`Optimizer` (and so
    ``MLP.fit``) calls its schedules with the step count, so there k epochs are
    ``every = k * ceil(N / batch_size)`` steps.

    Inputs:
    - lr0: initial learning rate η₀.
    - drop: multiplicative factor.  Default 0.1, deck 000's division by 10.
    - every: counts between drops (int >= 1).  Default 10: deck 000 leaves k open; 10 is our
      choice for the notebooks' short runs.

    Returns:
    - schedule: callable t -> η(t) (float), for t >= 0.
    """
    if every < 1:
        raise ValueError(f"step_decay: every must be a positive count, got {every}")

    def schedule(t):
        if t < 0:
            raise ValueError(f"step_decay: t must be >= 0, got {t}")
        return float(lr0 * drop ** (int(t) // int(every)))

    return schedule


class Plateau:
    """Decay on a plateau: a schedule that is told the losses (made by :func:`plateau_lr`).

    ``observe(loss)`` records one loss (``MLP.fit`` tells it each epoch's training loss);
    ``plateau(t)`` replays the first t recorded losses from the start and returns the rate
    after them.  With one loss per epoch, ``plateau(epoch)`` is the rate for that epoch;
    called by an :class:`Optimizer` with its step count (at least one step per epoch, so
    t >= the losses recorded) it gives the rate after every loss told so far.

    The replay: a loss *improves* when it is below the best loss so far by more than
    ``min_delta``; after ``patience`` losses in a row without improvement the rate is
    multiplied by ``factor`` (never below ``min_lr``) and the count starts again, keeping the
    best loss.

    Attributes:
    - losses: list of the losses told so far.
    """

    def __init__(self, lr0, patience=10, factor=0.1, min_delta=0.0, min_lr=0.0):
        if patience < 1:
            raise ValueError(f"plateau_lr: patience must be >= 1, got {patience}")
        self.lr0, self.patience, self.factor = float(lr0), patience, factor
        self.min_delta, self.min_lr = min_delta, min_lr
        self.losses = []

    def observe(self, loss):
        """Record one loss (one epoch's, in ``MLP.fit``)."""
        self.losses.append(float(loss))

    def __call__(self, t):
        lr, best, waited = self.lr0, np.inf, 0
        for loss in self.losses[:max(int(t), 0)]:
            if loss < best - self.min_delta:     # improved (within the tolerance)
                best, waited = loss, 0
            else:
                waited += 1
                if waited >= self.patience:      # k epochs without improvement → η ← η · factor
                    lr, waited = max(lr * self.factor, self.min_lr), 0
        return float(lr)


def plateau_lr(lr0, patience=10, factor=0.1, min_delta=0.0, min_lr=0.0):
    """Decay on a plateau (deck 000): divide the rate by 10 once the loss stops improving.

    Inputs:
    - lr0: initial learning rate η₀.
    - patience: k, losses without improvement before a drop (int >= 1).  Default 10, the
      default of the common "reduce on plateau" callbacks (deck 000 leaves k open).
    - factor: multiplicative drop.  Default 0.1, deck 000's division by 10.
    - min_delta: the tolerance: an improvement must beat the best loss by more than this.
      Default 0.0 (any decrease counts).
    - min_lr: the rate never drops below this.  Default 0.0 (no floor).

    Returns:
    - schedule: a :class:`Plateau`, callable t -> η and told losses with ``observe(loss)``.
    """
    return Plateau(lr0, patience, factor, min_delta, min_lr)


def cyclical_lr(base_lr=1e-3, max_lr=6e-3, step_size=2000, mode="triangular", gamma=1.0):
    """Cyclical learning rate (Smith 2015, arXiv:1506.01186; deck 000).

    The rate goes linearly from ``base_lr`` up to ``max_lr`` in ``step_size`` iterations and back
    down in as many; one cycle is ``2 * step_size`` iterations.  Smith's formulas::

        cycle = ⌊1 + t / (2 · step_size)⌋
        x     = |t / step_size − 2 · cycle + 1|
        lr    = base_lr + (max_lr − base_lr) · max(0, 1 − x) · scale

    with scale = 1 ("triangular"), 1 / 2^(cycle−1) ("triangular2": the amplitude halves each
    cycle) or gamma^t ("exp_range").

    Inputs:
    - base_lr, max_lr: the bounds.  Defaults 0.001 and 0.006: Smith (2015)'s CIFAR-10 example.
    - step_size: half a cycle, in iterations.  Default 2000 (Smith 2015's example; he advises
      2–10 times the number of iterations per epoch).
    - mode: "triangular", "triangular2" or "exp_range" (Smith 2015's three policies).
    - gamma: decay per iteration for "exp_range".  Default 1.0 (no decay); Smith (2015) uses
      values just below 1, e.g. 0.99994.

    Returns:
    - schedule: callable t -> lr (float), t the iteration counted from 0 (the rate changes
      every mini-batch, deck 000).
    """
    if step_size <= 0:
        raise ValueError(f"cyclical_lr: step_size must be positive, got {step_size}")
    scales = {
        "triangular": lambda t, cycle: 1.0,
        "triangular2": lambda t, cycle: 1.0 / 2.0 ** (cycle - 1),
        "exp_range": lambda t, cycle: gamma ** t,
    }
    if mode not in scales:
        raise ValueError(f"cyclical_lr: unknown mode {mode!r}; "
                         "use 'triangular', 'triangular2' or 'exp_range'")
    scale = scales[mode]

    def schedule(t):
        cycle = np.floor(1 + t / (2 * step_size))
        x = abs(t / step_size - 2 * cycle + 1)
        return float(base_lr + (max_lr - base_lr) * max(0.0, 1.0 - x) * scale(t, cycle))

    return schedule


def early_stopping(val_losses, patience):
    """Where early stopping on the validation loss ends a run, and which epoch it keeps.

    After every epoch the validation loss is compared with the best so far; a strictly lower
    one is a new best (its parameters are saved).  Once ``patience`` epochs in a row brought no
    new best, training stops and the saved parameters of the best epoch are restored (Prechelt
    1998, "Early stopping — but when?"; the number of epochs, a hyperparameter in deck 004's
    pragmatics, is then chosen by the validation set).

    Inputs:
    - val_losses: the validation loss after each epoch 0, 1, 2, ... (a sequence of floats)
    - patience: epochs without a new best that end the run, >= 1

    Returns a tuple of ints:
    - best: the epoch of the lowest loss up to ``stop`` (the first of equal ones)
    - stop: the epoch after which training stops: the first epoch ``patience`` epochs past
      the best, or the last epoch, ``len(val_losses) - 1``, if that never happens
    """
    if patience < 1:
        raise ValueError(f"early_stopping: patience must be at least 1, got {patience}")
    if len(val_losses) == 0:
        raise ValueError("early_stopping: no validation losses")
    best = 0
    for epoch, loss in enumerate(val_losses):
        if loss < val_losses[best]:
            best = epoch
        if epoch - best >= patience:
            return best, epoch
    return best, len(val_losses) - 1


def lr_range_test(step, lr_min=1e-5, lr_max=10.0, steps=100, diverge=4.0):
    """The learning-rate range test (Smith 2017, "Cyclical learning rates for training neural
    networks", section 3.3): train for a short while with a rate that grows at every step and
    record the loss.  It falls slowly at tiny rates, fast at good ones, and blows up past the
    largest rate training tolerates; a good η sits somewhat below where the fall is steepest.

    The rates grow geometrically, η_k = η_min (η_max/η_min)^(k/(steps−1)) (Smith grows them
    linearly over a few epochs; a geometric sweep covers decades in one short run, as most
    libraries' "learning-rate finders" do).  The test stops early once the loss is not finite
    or exceeds ``diverge`` times the best loss so far.

    Inputs:
    - step: a function step(lr) -> float that takes one training step at rate lr (on the next
      mini-batch) and returns that mini-batch's loss.  It owns the model and the data.
    - lr_min, lr_max: the first and the last rate, 0 < lr_min < lr_max.
    - steps: number of rates (steps) at most, >= 2.
    - diverge: stop once the loss exceeds diverge × the lowest loss seen.

    Returns a tuple of:
    - lrs: float array of the rates used, one per step taken
    - losses: float array of the losses step returned, same length
    """
    if not 0 < lr_min < lr_max:
        raise ValueError(f"lr_range_test: need 0 < lr_min < lr_max, got {lr_min} and {lr_max}")
    if steps < 2:
        raise ValueError(f"lr_range_test: need at least 2 steps, got {steps}")
    rates = np.geomspace(lr_min, lr_max, steps)
    losses, best = [], np.inf
    for lr in rates:
        loss = float(step(float(lr)))
        losses.append(loss)
        if not np.isfinite(loss) or loss > diverge * best:
            break
        best = min(best, loss)
    return rates[:len(losses)], np.array(losses)


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
# Gradient descent on a function: the one driver (calculus.gradient_descent calls it)
# --------------------------------------------------------------------------------------------

def minimize(grad_fn, theta0, optimizer="sgd", steps=100, **hyper):
    """Run an optimizer for ``steps`` steps from ``theta0`` and return the whole trajectory.

    Inputs:
    - grad_fn: callable θ ↦ ∇L(θ), given a copy of θ (shape (n,)) and returning its shape
      (any array of n entries, e.g. a scalar when n = 1, is reshaped to it).
    - theta0: starting point, shape (n,) (a scalar is treated as n = 1); not modified.
    - optimizer: a name in :data:`OPTIMIZERS`, a function with the common signature, or an
      :class:`Optimizer` (which then keeps the state; θ is its key "theta").
    - steps: number of updates (int >= 0).
    - **hyper: hyperparameters for the optimizer (added to an :class:`Optimizer`'s ``hyper``);
      a value may be a schedule t -> value of the step index t = 0, 1, …, e.g.
      ``lr=cyclical_lr(0.01, 0.1, 20)``.

    Returns:
    - trajectory: float64 array of shape (steps + 1, n); row 0 is ``theta0``, row t is θ after
      t steps.

    Divergence: when η is too large the iterates blow up.  That is a lesson, not an error: the
    run stops at the first step whose θ is not finite (overflow), that row and all later ones
    are NaN, and NumPy's overflow warnings are silenced.  Every finite row is exact.
    """
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"minimize: steps must be >= 0, got {steps}")
    if isinstance(optimizer, Optimizer):
        opt = optimizer
        opt.hyper.update(hyper)
    else:
        opt = Optimizer(optimizer, **hyper)
    theta = np.atleast_1d(np.array(theta0, dtype=np.float64))
    if theta.ndim != 1:
        raise ValueError(f"minimize: theta0 must be a vector of shape (n,), got {theta.shape}")
    traj = np.full((steps + 1, theta.size), np.nan)
    traj[0] = theta
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            g = _as_float(grad_fn(theta.copy()))                      # ∇L(θ_t)
            if g.shape != theta.shape:
                if g.size != theta.size:
                    raise ValueError(
                        f"grad returned shape {g.shape} for theta of shape {theta.shape}; "
                        "the gradient must have the shape of the parameters")
                g = g.reshape(theta.shape)
            theta = opt.step("theta", theta, g)                       # e.g. θ ← θ − η ∇L(θ)
            if not np.all(np.isfinite(theta)):
                break
            traj[t + 1] = theta
    return traj
