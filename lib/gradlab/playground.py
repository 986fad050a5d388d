"""The model behind the optimizer playground: trajectories, divergence, comparison, theory.

Pure NumPy, no plotting and no widgets, so every number the playground shows can be tested
(and reused in a notebook) on its own.  The view lives in :mod:`gradlab.widgets`.

* :func:`trajectory` runs any optimizer with the library's one signature
  ``update(w, dw, state=None, **hyper) -> (next_w, state)`` (see :mod:`gradlab.optim`) on a 2-D
  :class:`gradlab.landscapes.Landscape`, stops at the first non-finite or exploding step and
  says so (:class:`Trajectory`).
* :func:`compare` tells where a student's rule parts from the reference, and by how much.
* For quadratics (the ill-conditioned bowl and the regression MSE) the linear theory of
  gradient descent, the heavy ball and Nesterov: :func:`optimal_settings` (η*, β* of each),
  :func:`predicted_rate` (the spectral radius of one step, vectorized over a grid of settings,
  which is the phase diagram) and :func:`measured_rate` (read off a trajectory).

Momentum, whatever its name
---------------------------
The playground has one momentum slider.  It feeds the parameter the update function takes:
``beta`` (deck 000's momentum), ``alpha`` (deck 001's momentum and Nesterov), ``beta1`` (Adam's
first moment).  :func:`momentum_parameter` finds it in the function's signature, so a student's
own rule with any of these names is driven the same way.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from gradlab import landscapes, optim

__all__ = [
    "Trajectory", "trajectory", "momentum_parameter", "hyper_for", "compare", "Comparison",
    "make_surface", "SURFACES", "hessian_eigenvalues", "optimal_settings", "predicted_rate",
    "measured_rate", "LINEAR_METHODS",
]

#: A step whose loss or position grows past this is called divergent (and anything non-finite).
#: 1e12 is our choice: far beyond every surface's window (losses there are < 1e4), far below
#: float64 overflow, so the last point kept is still a number that can be drawn.
DIVERGED = 1e12

#: Names the momentum slider may feed, in the order they are looked for (see module docstring).
MOMENTUM_NAMES = ("beta", "alpha", "beta1")

#: The optimizers whose step is linear on a quadratic, so the spectral theory below applies.
LINEAR_METHODS = {"sgd": "sgd", "momentum": "heavy_ball", "momentum_velocity": "heavy_ball",
                  "nesterov": "nesterov"}


# --------------------------------------------------------------------------------------------
# surfaces
# --------------------------------------------------------------------------------------------

def make_surface(name, condition=10.0):
    """The playground's surfaces by name: "quadratic", "rosenbrock", "saddle", "regression".

    ``condition`` is κ for the quadratic: eigenvalues (1, κ), axes rotated by π/8 so that the
    per-coordinate methods (AdaGrad, RMSProp, Adam) cannot simply rescale the two axes away
    (our choice of angle).  The other surfaces are :mod:`gradlab.landscapes`' defaults.
    """
    if name == "quadratic":
        if not condition >= 1:
            raise ValueError(f"the condition number must be >= 1, got {condition}")
        return landscapes.quadratic(eigenvalues=(1.0, float(condition)), angle=np.pi / 8)
    try:
        return landscapes.LANDSCAPES[name]()
    except KeyError:
        raise ValueError(f"unknown surface {name!r}; choose one of {sorted(SURFACES)}") from None


SURFACES = ("quadratic", "rosenbrock", "saddle", "regression")


# --------------------------------------------------------------------------------------------
# trajectories
# --------------------------------------------------------------------------------------------

_SIGNATURES = {}


def _parameters(update):
    try:
        return _SIGNATURES[update]
    except (KeyError, TypeError):
        pass
    try:
        params = inspect.signature(update).parameters
    except (TypeError, ValueError):                      # builtins, some partials
        params = {}
    try:
        _SIGNATURES[update] = params                     # asked at every slider move
    except TypeError:                                    # unhashable callables
        pass
    return params


def momentum_parameter(update):
    """The keyword of ``update`` the momentum slider sets (``beta``, ``alpha``, ``beta1``), or None.

    A function taking ``**kwargs`` is given ``beta`` (deck 000's name).
    """
    params = _parameters(update)
    for name in MOMENTUM_NAMES:
        if name in params:
            return name
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return "beta"
    return None


def hyper_for(update, lr, momentum=None):
    """The keyword arguments one playground setting gives ``update``: ``lr`` and its momentum."""
    hyper = {"lr": float(lr)}
    name = momentum_parameter(update)
    if name is not None and momentum is not None:
        hyper[name] = float(momentum)
    return hyper


@dataclass
class Trajectory:
    """The points an optimizer visits, up to the last finite one.

    - points: (n + 1, 2) float64, θ_0 (the start) to θ_n; n < steps when it diverged or failed.
    - losses: (n + 1,) the loss at each point.
    - steps: how many steps were asked for.
    - diverged_at: the step (1-based) whose result was non-finite or exploded past
      :data:`DIVERGED`, else None.  ``points[-1]`` is then the last finite point.
    - error: when the update function raised, ``(step, exception)``; else None.
    """

    points: np.ndarray
    losses: np.ndarray
    steps: int
    diverged_at: int | None = None
    error: tuple | None = None

    @property
    def n(self):
        """Number of steps actually taken."""
        return len(self.points) - 1

    @property
    def message(self):
        """What went wrong, as a predicate for "your rule …" / "the reference …", else ''."""
        if self.error is not None:
            step, exc = self.error
            if isinstance(exc, NotImplementedError):       # the exercise's untouched stub
                return ("is not implemented yet: replace `raise NotImplementedError()` with "
                        "your code")
            said = str(exc)
            return f"raised {type(exc).__name__} at step {step}" + (f": {said}" if said else "")
        if self.diverged_at is not None:
            return (f"diverged at step {self.diverged_at}: the loss left every finite bound "
                    f"(lower the learning rate); the last finite point is step {self.n}")
        return ""


def trajectory(surface, update, start=None, steps=50, **hyper):
    """Run ``update`` for ``steps`` steps on ``surface`` from ``start``.

    Inputs:
    - surface: a :class:`gradlab.landscapes.Landscape` (its ``grad`` gives ∇L at a point).
    - update: a name in :data:`gradlab.optim.OPTIMIZERS` or any function with the common
      signature ``update(w, dw, state=None, **hyper) -> (next_w, state)``.
    - start: (2,) starting point θ_0; default the surface's own start.
    - steps: number of updates.
    - hyper: passed to every call, e.g. ``lr=0.1, beta=0.9``.

    Returns a :class:`Trajectory`.  Each step is θ_{t+1}, s = update(θ_t, ∇L(θ_t), s, **hyper):
    the loop itself cannot be vectorized (each step needs the last), so the per-step work is
    kept to one gradient and one update call, and the losses of all points are evaluated in
    one vectorized call at the end.
    """
    if isinstance(update, str):
        update = optim.OPTIMIZERS[update]
    w = np.array(surface.start if start is None else start, dtype=np.float64)
    grad = surface.grad
    points = np.empty((steps + 1, 2))
    points[0] = w
    state = None
    n = steps
    diverged = error = None
    with np.errstate(all="ignore"):                  # overflow is detected below, not warned
        for t in range(1, steps + 1):
            try:
                out = update(w, grad(w), state, **hyper)
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise TypeError(f"it must return a pair (next_w, state), not "
                                    f"{type(out).__name__}")
                w, state = out
                if np.shape(w) != (2,):
                    raise ValueError(f"next_w must have the shape of w, (2,), not "
                                     f"{np.shape(w)}")
                w = np.asarray(w, dtype=np.float64)
            except Exception as exc:                 # a student's rule: report, never crash
                error, n = (t, exc), t - 1
                break
            if not (abs(w[0]) < DIVERGED and abs(w[1]) < DIVERGED):   # also catches NaN
                diverged, n = t, t - 1
                break
            points[t] = w
        points = points[:n + 1]
        losses = np.asarray(surface.f(points), dtype=np.float64)
    bad = ~(np.abs(losses) < DIVERGED)
    if bad.any():                                    # finite θ, exploding loss (e.g. θ₁⁴ terms)
        first = int(np.argmax(bad))
        diverged, points, losses = first, points[:first], losses[:first]
    return Trajectory(points=points, losses=losses, steps=steps, diverged_at=diverged,
                      error=error)


# --------------------------------------------------------------------------------------------
# your rule vs the reference
# --------------------------------------------------------------------------------------------

@dataclass
class Comparison:
    """Where two trajectories part.

    - step: first step t whose points differ by more than the tolerance, or None if they agree.
    - distance: ‖θ_t(yours) − θ_t(reference)‖ at that step (at the end if they agree).
    - yours, reference: the two points at that step (None if one trajectory ended earlier).
    """

    step: int | None
    distance: float
    yours: np.ndarray | None = None
    reference: np.ndarray | None = None
    note: str = field(default="")

    @property
    def message(self):
        if self.note:
            return self.note
        if self.step is None:
            return f"your rule matches the reference at every step (largest gap {self.distance:.1e})"
        return (f"your rule parts from the reference at step {self.step}: "
                f"‖Δθ‖ = {self.distance:.3g} (yours {_fmt(self.yours)}, "
                f"reference {_fmt(self.reference)})")


def _fmt(p):
    return "—" if p is None else f"({p[0]:.4g}, {p[1]:.4g})"


def compare(yours, reference, rtol=1e-6, atol=1e-9):
    """First step where ``yours`` and ``reference`` (two :class:`Trajectory`) part.

    Points agree when ‖Δθ‖ ≤ atol + rtol·‖θ_reference‖ (both tolerances our choice: a correct
    rule written differently differs by rounding, ~1e-15 relative, after 100s of steps still far
    below 1e-6).  A trajectory that stops (divergence, an exception) parts at the step it lost.
    """
    a, b = yours.points, reference.points
    m = min(len(a), len(b))
    gaps = np.linalg.norm(a[:m] - b[:m], axis=1)
    bad = gaps > atol + rtol * np.linalg.norm(b[:m], axis=1)
    if bad.any():
        t = int(np.argmax(bad))
        return Comparison(step=t, distance=float(gaps[t]), yours=a[t], reference=b[t])
    if len(a) != len(b):
        t = m                                     # one of them ended at step m - 1
        note = (f"your rule {yours.message or f'stops at step {t}'}" if len(a) < len(b)
                else f"the reference {reference.message or f'stops at step {t}'}; yours goes on")
        return Comparison(step=t, distance=float("inf"), yours=a[t] if t < len(a) else None,
                          reference=b[t] if t < len(b) else None, note=note)
    return Comparison(step=None, distance=float(gaps.max(initial=0.0)))


# --------------------------------------------------------------------------------------------
# theory for quadratics
# --------------------------------------------------------------------------------------------

def hessian_eigenvalues(surface):
    """(λ_min, λ_max) of a quadratic surface's constant Hessian, or None for the others."""
    for key in ("A", "H"):
        if key in surface.info:
            lam = np.linalg.eigvalsh(surface.info[key])
            return float(lam.min()), float(lam.max())
    return None


def optimal_settings(lam_min, lam_max, method="heavy_ball"):
    """The best fixed learning rate and momentum of ``method`` on a quadratic.

    ``method`` is one of :data:`LINEAR_METHODS`' values (each has its own optimum; a setting
    that is best for one can make another diverge).  With κ = λmax/λmin:

    - "sgd", gradient descent (deck 000): η* = 2/(λmin + λmax); the error shrinks by
      (κ − 1)/(κ + 1) per step.
    - "heavy_ball", Polyak (1964), as in Goh, "Why Momentum Really Works" (Distill, 2017):
      η* = 4/(√λmax + √λmin)², β* = ((√κ − 1)/(√κ + 1))², rate (√κ − 1)/(√κ + 1).
    - "nesterov", Lessard, Recht & Packard (SIAM J. Optim., 2016), section 4: η* = 4/(3λmax +
      λmin), β* = (√(3κ + 1) − 2)/(√(3κ + 1) + 2), rate 1 − 2/√(3κ + 1).

    Returns a dict with ``lr``, ``momentum`` (0 for "sgd") and ``rate``, the
    :func:`predicted_rate` there.
    """
    kappa = lam_max / lam_min
    if method == "sgd":
        return {"lr": 2.0 / (lam_min + lam_max), "momentum": 0.0,
                "rate": (kappa - 1) / (kappa + 1)}
    if method == "heavy_ball":
        rk = np.sqrt(kappa)
        return {"lr": 4.0 / (np.sqrt(lam_min) + np.sqrt(lam_max)) ** 2,
                "momentum": ((rk - 1) / (rk + 1)) ** 2, "rate": (rk - 1) / (rk + 1)}
    if method == "nesterov":
        r3 = np.sqrt(3 * kappa + 1)
        return {"lr": 4.0 / (3 * lam_max + lam_min), "momentum": (r3 - 2) / (r3 + 2),
                "rate": 1 - 2 / r3}
    raise ValueError(f"no optimum known for {method!r}; choose one of "
                     f"{sorted(set(LINEAR_METHODS.values()))}")


def predicted_rate(lr, momentum, eigenvalues, method="heavy_ball"):
    """Asymptotic contraction factor per step on a quadratic: the spectral radius of one step.

    Along an eigenvector with curvature λ the error e_t obeys a linear two-term recurrence, so
    e_t ~ ρ^t with ρ the largest root modulus of its characteristic polynomial:

    - heavy ball (deck 000's momentum; deck 001's velocity form is the same algorithm)::

          e_{t+1} = (1 + β − ηλ) e_t − β e_{t-1}      z² − (1 + β − ηλ) z + β = 0

    - Nesterov (deck 001, gradient at the look-ahead point)::

          z² − (1 + β)(1 − ηλ) z + β (1 − ηλ) = 0

    - sgd: the heavy ball with β = 0, ρ = |1 − ηλ|.

    The rate is the worst over the eigenvalues; ρ ≥ 1 means divergence.  ``lr`` and
    ``momentum`` broadcast against each other (a grid gives the phase diagram).
    """
    lr = np.asarray(lr, dtype=np.float64)
    beta = np.zeros_like(lr) if method == "sgd" else np.asarray(momentum, dtype=np.float64)
    rho = None
    for lam in np.atleast_1d(eigenvalues):
        if method == "nesterov":
            p, q = (1 + beta) * (1 - lr * lam), beta * (1 - lr * lam)
        else:
            p, q = 1 + beta - lr * lam, beta + 0 * lr
        # roots of z² − p z + q: (p ± √(p² − 4q)) / 2, complex when p² < 4q
        disc = np.sqrt((p * p - 4 * q).astype(np.complex128))
        r = np.maximum(np.abs((p + disc) / 2), np.abs((p - disc) / 2))
        rho = r if rho is None else np.maximum(rho, r)
    return rho


def measured_rate(traj, minimum, floor=1e-10):
    """Contraction factor per step read off a trajectory: ρ with e_t ≈ C ρ^t.

    e_t = ‖θ_t − θ*‖.  ρ is exp of the least-squares slope of log e_t against t over the second
    half of the run (the asymptotic regime; with momentum e_t oscillates, so single ratios
    mislead and a fit through the wiggles does not), using only the steps where e_t is above
    ``floor`` times e_0 (below that, rounding, not the optimizer, sets the ratio).  Returns nan
    when fewer than four usable steps remain, inf when the run diverged.
    """
    if traj.diverged_at is not None:
        return float("inf")
    e = np.linalg.norm(traj.points - np.asarray(minimum), axis=1)
    if e[0] == 0:
        return float("nan")
    usable = np.flatnonzero(e > floor * e[0])
    last = usable[-1] if len(usable) else 0
    first = last // 2
    if last - first < 4:
        return float("nan")
    t = np.arange(first, last + 1)
    slope = np.polyfit(t, np.log(e[first:last + 1]), 1)[0]
    return float(np.exp(slope))
