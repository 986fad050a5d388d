"""Two-dimensional loss surfaces on which the notebooks draw optimizer trajectories.

The optimizer sections of the decks reason about the shape of the loss: deck 000 ("choosing
the learning rate", plateaus, saddle points, why momentum helps in low-curvature directions)
and deck 001 ("challenges in optimization": poor conditioning, saddle points, cliffs; SGD
oscillating across a narrow valley).  Each surface here makes one of those pictures concrete
with parameters θ = (θ₁, θ₂) so trajectories can be drawn on a contour plot.

Every surface is a :class:`Landscape` with

* ``f(theta)``: the loss; ``theta`` has shape (..., 2) — a single point (2,), a batch (k, 2)
  or a whole grid (ny, nx, 2) — and the result has shape (...);
* ``grad(theta)``: the gradient, shape (..., 2) → (..., 2);
* ``minimum`` (a global minimiser, shape (2,)) and ``f_min`` (the loss there);
* ``xlim``, ``ylim``: a plotting window that shows the interesting part; ``start``: a starting
  point that makes a good demonstration;
* ``grid(n)``: (Θ₁, Θ₂, L) arrays ready for ``plt.contour``.

Factories: :func:`quadratic` (ill-conditioned bowl), :func:`rosenbrock` (curved valley),
:func:`saddle` (saddle point with two minima), :func:`regression` (MSE of a straight-line fit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gradlab.init import as_rng

__all__ = ["Landscape", "quadratic", "rosenbrock", "saddle", "regression", "LANDSCAPES"]


def _theta(theta):
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape[-1:] != (2,):
        raise ValueError(f"a landscape takes points of shape (..., 2), got {theta.shape}")
    return theta


@dataclass(frozen=True)
class Landscape:
    """A 2-D loss surface: the loss, its gradient, a known minimum and a plotting window."""

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray]
    minimum: np.ndarray
    f_min: float
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    start: np.ndarray
    info: dict = field(default_factory=dict)

    def grid(self, n=200, xlim=None, ylim=None):
        """Evaluate the loss on an n×n grid over the window.

        Returns a tuple of:
        - T1, T2: float64 arrays of shape (n, n) (as from ``np.meshgrid``), the θ₁ and θ₂ values.
        - L: float64 array of shape (n, n), the loss at each grid point.
        """
        x0, x1 = xlim or self.xlim
        y0, y1 = ylim or self.ylim
        T1, T2 = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
        return T1, T2, self.f(np.stack([T1, T2], axis=-1))


# --------------------------------------------------------------------------------------------
# Ill-conditioned quadratic
# --------------------------------------------------------------------------------------------

def quadratic(eigenvalues=(1.0, 10.0), angle=0.0, center=(0.0, 0.0)):
    """An ill-conditioned quadratic bowl  L(θ) = ½ (θ − c)ᵀ A (θ − c).

    A = R diag(λ₁, λ₂) Rᵀ, with R the rotation by ``angle``.  The **condition number** is
    κ = λ_max / λ_min — 10 with the defaults: the valley is √κ ≈ 3.2 times longer than wide and
    gradient descent zig-zags across it (deck 001's "poor conditioning", SGD oscillation).

    The gradient ∇L = A (θ − c) is Lipschitz with constant L = λ_max, so plain gradient descent
    converges for every start iff 0 < η < 2/λ_max and diverges for η > 2/λ_max (deck 000,
    "choosing the learning rate"); the best fixed rate η = 2/(λ_min + λ_max) contracts the error
    by (κ − 1)/(κ + 1) per step.

    Inputs:
    - eigenvalues: (λ₁, λ₂), both > 0, the curvatures along the two principal axes.  Default
      (1, 10): our choice, κ = 10 — ill-conditioned enough to show zig-zagging, mild enough
      for plain GD to converge in a few dozen steps.
    - angle: rotation of the principal axes, radians (0: axes along θ₁ and θ₂).
    - center: the minimiser c.

    Returns:
    - a :class:`Landscape`; ``info`` holds ``A``, ``condition_number`` and ``lipschitz``.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if lam.shape != (2,) or np.any(lam <= 0):
        raise ValueError(f"quadratic: need two positive eigenvalues, got {eigenvalues}")
    c = np.asarray(center, dtype=np.float64)
    R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    A = R @ np.diag(lam) @ R.T

    def f(theta):
        d = _theta(theta) - c
        return 0.5 * np.einsum("...i,ij,...j->...", d, A, d)        # ½ (θ−c)ᵀ A (θ−c)

    def grad(theta):
        return (_theta(theta) - c) @ A.T                             # A (θ − c)

    half = 1.1 * np.sqrt(2.0 * 10.0 / lam.min())                     # shows the L = 10 contour
    return Landscape(
        name="quadratic", f=f, grad=grad, minimum=c.copy(), f_min=0.0,
        xlim=(c[0] - half, c[0] + half), ylim=(c[1] - half, c[1] + half),
        start=c + R @ np.array([-0.8 * half, 0.25 * half]),
        info={"A": A, "condition_number": float(lam.max() / lam.min()),
              "lipschitz": float(lam.max())},
    )


# --------------------------------------------------------------------------------------------
# Rosenbrock
# --------------------------------------------------------------------------------------------

def rosenbrock(a=1.0, b=100.0):
    """Rosenbrock's banana valley  L(θ) = (a − θ₁)² + b (θ₂ − θ₁²)².

    A narrow curved valley along θ₂ = θ₁²: easy to reach, slow to follow.  Minimum at (a, a²)
    with L = 0.

    Inputs:
    - a, b: default 1 and 100, Rosenbrock (1960), "An automatic method for finding the greatest
      or least value of a function".

    Returns:
    - a :class:`Landscape`, started at Rosenbrock's classic point (−1.2, 1) (for a = 1;
      (−1.2 a, a²) otherwise).
    """
    def f(theta):
        t = _theta(theta)
        x, y = t[..., 0], t[..., 1]
        return (a - x) ** 2 + b * (y - x ** 2) ** 2

    def grad(theta):
        t = _theta(theta)
        x, y = t[..., 0], t[..., 1]
        dx = -2.0 * (a - x) - 4.0 * b * x * (y - x ** 2)    # ∂L/∂θ₁
        dy = 2.0 * b * (y - x ** 2)                          # ∂L/∂θ₂
        return np.stack([dx, dy], axis=-1)

    s = max(abs(a), 1.0)                      # window [−2, 2] × [−1, 3] for a = 1, scaled with a
    start = np.array([-1.2 * a, a * a]) if a != 0 else np.array([-1.2, 1.0])
    return Landscape(
        name="rosenbrock", f=f, grad=grad, minimum=np.array([a, a * a], dtype=np.float64),
        f_min=0.0, xlim=(-2.0 * s, 2.0 * s), ylim=(-s * s, 3.0 * s * s), start=start,
        info={"a": a, "b": b},
    )


# --------------------------------------------------------------------------------------------
# Saddle
# --------------------------------------------------------------------------------------------

def saddle():
    """A saddle point with two minima  L(θ) = θ₁² + θ₂⁴/4 − θ₂²/2.

    Near the origin L ≈ θ₁² − θ₂²/2, the textbook saddle (deck 000 and deck 001 list saddle
    points among the challenges of optimization): the gradient vanishes at (0, 0) but the
    Hessian diag(2, −1) has a negative eigenvalue.  The quartic term bounds the surface, so
    there are two global minima at (0, ±1) with L = −¼.  Started on the θ₂ = 0 ridge, gradient
    descent slides into the saddle and stalls; a tiny perturbation, or momentum, lets it escape.

    Returns:
    - a :class:`Landscape` with ``minimum`` (0, 1); ``info`` holds ``saddle_point`` (0, 0),
      the ``minima`` (2, 2) and the ``hessian_at_saddle``.
    """
    def f(theta):
        t = _theta(theta)
        x, y = t[..., 0], t[..., 1]
        return x ** 2 + 0.25 * y ** 4 - 0.5 * y ** 2

    def grad(theta):
        t = _theta(theta)
        x, y = t[..., 0], t[..., 1]
        return np.stack([2.0 * x, y ** 3 - y], axis=-1)

    return Landscape(
        name="saddle", f=f, grad=grad, minimum=np.array([0.0, 1.0]), f_min=-0.25,
        xlim=(-1.5, 1.5), ylim=(-1.8, 1.8), start=np.array([-1.4, 1e-3]),
        info={"saddle_point": np.zeros(2), "minima": np.array([[0.0, 1.0], [0.0, -1.0]]),
              "hessian_at_saddle": np.diag([2.0, -1.0])},
    )


# --------------------------------------------------------------------------------------------
# A small linear regression
# --------------------------------------------------------------------------------------------

def regression(n=50, noise=0.3, seed=0, w=2.0, b=-1.0):
    """The MSE of a straight-line fit, as a function of θ = (w, b) (deck 000's MSE).

    Data: xᵢ ~ U(−1, 3), yᵢ = w xᵢ + b + noise (seeded).  Loss
    L(w, b) = (1/n) Σᵢ (w xᵢ + b − yᵢ)², a convex quadratic whose minimiser is the least-squares
    line.  Because the xᵢ are not centred, w and b are coupled and the bowl is tilted and
    elongated (condition number in ``info``); centring x would make it round — a preview of
    feature normalization (deck 001).

    Inputs:
    - n: number of samples.  noise: standard deviation of the noise on y.  seed: int seed or Generator.
    - w, b: slope and intercept of the line the data come from.  Defaults 2 and −1: our choice.

    Returns:
    - a :class:`Landscape`; ``info`` holds the data ``x``, ``y`` (shape (n,)), the
      ``true_params`` (w, b), the Hessian ``H`` and its ``condition_number``.
    """
    rng = as_rng(seed)
    x = rng.uniform(-1.0, 3.0, n)
    y = w * x + b + noise * rng.standard_normal(n)
    X = np.column_stack([x, np.ones(n)])
    theta_star = np.linalg.solve(X.T @ X, X.T @ y)           # normal equations XᵀX θ = Xᵀy
    H = 2.0 / n * (X.T @ X)                                  # Hessian of the MSE

    def residuals(theta):
        t = _theta(theta)
        return t[..., 0, None] * x + t[..., 1, None] - y     # shape (..., n)

    def f(theta):
        return np.mean(residuals(theta) ** 2, axis=-1)       # (1/n) Σ rᵢ²

    def grad(theta):
        r = residuals(theta)
        return np.stack([2.0 * np.mean(r * x, axis=-1),      # ∂L/∂w = (2/n) Σ rᵢ xᵢ
                         2.0 * np.mean(r, axis=-1)],         # ∂L/∂b = (2/n) Σ rᵢ
                        axis=-1)

    eig = np.linalg.eigvalsh(H)
    return Landscape(
        name="regression", f=f, grad=grad, minimum=theta_star, f_min=float(f(theta_star)),
        xlim=(theta_star[0] - 3.0, theta_star[0] + 3.0),
        ylim=(theta_star[1] - 3.0, theta_star[1] + 3.0),
        start=theta_star + np.array([-2.5, 2.5]),
        info={"x": x, "y": y, "true_params": np.array([w, b], dtype=np.float64), "H": H,
              "condition_number": float(eig.max() / eig.min())},
    )


#: Every landscape factory by name (each callable with no arguments).
LANDSCAPES = {
    "quadratic": quadratic,
    "rosenbrock": rosenbrock,
    "saddle": saddle,
    "regression": regression,
}
