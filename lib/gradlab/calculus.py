"""Numerical calculus: the yardstick every analytic gradient in the course is checked against.

This module mirrors the opening of the course -- "what is a derivative, and how do we
compute one without doing any algebra?" -- and the verification step of backprop:

* deck 000 (Gradient Descent): Newton's difference quotient (f(a+h) - f(a)) / h, the
  derivative of x^2, the chain rule on x^4 = (x^2)^2, partial derivatives and the gradient
  of f = x^2 + xy + y^2, the m x n Jacobian, the matrix chain rule dL/dW = X^T dL/dD for
  D = XW, and plain gradient descent theta_{t+1} = theta_t - eta * grad L(theta_t);
* deck 002 (Backpropagation and Vanishing Gradients): the central difference
  (L(w + eps) - L(w - eps)) / (2 eps) with error O(eps^2), used to verify backprop;
* deck 003 (Gradient Descent and Backpropagation): the Hessian of a multivariate function.

Everything here is plain NumPy and deliberately slow: a numerical gradient costs two
evaluations of f per coordinate, i.e. O(|W|^2) for a network against O(|W|) for backprop
(deck 002).  Use it on small problems to *check* gradients, never to train.

Choice of the step h
--------------------
A difference quotient makes two errors that pull in opposite directions (see Press et al.,
*Numerical Recipes*, 3rd ed., section 5.7, "Numerical Derivatives"):

* truncation error from the Taylor series: ~ h |f''| / 2 for the forward quotient,
  ~ h^2 |f'''| / 6 for the central one (deck 002's O(eps^2));
* round-off error: f(x +- h) is only known to ~ eps_mach |f| with eps_mach ~ 2.2e-16, and
  dividing by h amplifies that to ~ eps_mach |f| / h.

Balancing the two gives h ~ eps_mach^(1/3) ~ 6e-6 for the central quotient, hence the
default h = 1e-5 (the step also used by the usual gradient-check recipes).  The forward
quotient keeps the same default so the two can be compared side by side; its own optimum
would be ~ eps_mach^(1/2) ~ 1.5e-8.  A second difference divides by h^2, so its round-off
is ~ eps_mach |f| / h^2 against a truncation of ~ h^2 |f''''| / 12; the balance is at
h ~ eps_mach^(1/4) ~ 1.2e-4, hence h = 1e-4 for the Hessian.
"""

from __future__ import annotations

import numpy as np

from gradlab import optim

__all__ = [
    "forward_difference",
    "central_difference",
    "numerical_gradient",
    "numerical_gradient_array",
    "numerical_gradients",
    "jacobian",
    "hessian",
    "relative_error",
    "gradient_check",
    "gradient_descent",
]

# Default steps; the derivation is in the module docstring (Numerical Recipes sec. 5.7).
H_FIRST = 1e-5    # ~ eps_mach^(1/3): first derivatives by central differences (deck 002)
H_SECOND = 1e-4   # ~ eps_mach^(1/4): second derivatives (Hessian, deck 003)


def _to_float(x):
    """Return ``x`` as float64: a Python float for scalars, a new float64 array otherwise."""
    if np.ndim(x) == 0:
        return float(np.asarray(x, dtype=np.float64))
    return np.array(x, dtype=np.float64)  # always a copy


def _scalar(value, what="f(x)"):
    """Turn the output of a scalar function into a Python float, or explain why not."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise ValueError(
            f"{what} must return a scalar, got an array of shape {arr.shape}; "
            "for a vector-valued f use jacobian() or numerical_gradient_array()"
        )
    return float(arr.reshape(()))


def forward_difference(f, x, h=H_FIRST):
    """Newton's difference quotient (deck 000): f'(x) ~ (f(x + h) - f(x)) / h.

    The slope of the secant through (x, f(x)) and (x + h, f(x + h)); its error is O(h).

    Inputs:
    - f: a function of one real variable; if ``x`` is an array, f must act elementwise
    - x: a scalar or an array of any shape (ints are converted to float64)
    - h: step size (default 1e-5, see the module docstring)

    Returns:
    - the approximate derivative at every entry of x: a float for scalar x, else a
      float64 array of x's shape
    """
    x = _to_float(x)
    d = (np.asarray(f(x + h), dtype=np.float64) - np.asarray(f(x), dtype=np.float64)) / h
    return float(d) if d.ndim == 0 else d


def central_difference(f, x, h=H_FIRST):
    """Central difference (deck 002): f'(x) ~ (f(x + h) - f(x - h)) / (2h), error O(h^2).

    The even Taylor terms cancel, which is why it is one order more accurate than the
    forward quotient for the same h.

    Inputs:
    - f: a function of one real variable; if ``x`` is an array, f must act elementwise
    - x: a scalar or an array of any shape (ints are converted to float64)
    - h: step size (default 1e-5, see the module docstring)

    Returns:
    - the approximate derivative: a float for scalar x, else a float64 array of x's shape
    """
    x = _to_float(x)
    d = (np.asarray(f(x + h), dtype=np.float64) - np.asarray(f(x - h), dtype=np.float64)) / (2 * h)
    return float(d) if d.ndim == 0 else d


def numerical_gradient(f, x, h=H_FIRST):
    """Gradient of a scalar function by central differences, one coordinate at a time.

    dL/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h)   (deck 002), which for f: R^n -> R
    assembles deck 000's gradient (df/dx_1, ..., df/dx_n).  Works for x of any shape
    (a weight matrix, a batch of images ...): the gradient has the shape of x.

    Inputs:
    - f: function taking an array shaped like x and returning a scalar
    - x: array of any shape (or a scalar); ints are converted to float64.  x itself is
      never modified: f is evaluated on a perturbed float64 copy.
    - h: step size (default 1e-5)

    Returns:
    - grad: float64 array of x's shape (a 0-d array for scalar x)
    """
    xc = np.array(x, dtype=np.float64)  # private copy: we perturb it in place
    grad = np.zeros_like(xc)
    for idx in np.ndindex(xc.shape):
        old = xc[idx]
        xc[idx] = old + h
        f_plus = _scalar(f(xc))
        xc[idx] = old - h
        f_minus = _scalar(f(xc))
        xc[idx] = old  # restore before moving to the next coordinate
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(f, x, dout, h=H_FIRST):
    """Numerical vector-Jacobian product, for checking a layer's backward pass.

    For a layer out = f(x) and an upstream gradient dout = dL/dout, the chain rule for
    tensors (deck 000) gives dL/dx_i = sum_j dout_j * d out_j / dx_i, i.e. the gradient of
    the scalar sum(f(x) * dout).  Each coordinate is perturbed by +-h (central differences).

    Inputs:
    - f: function taking an array shaped like x and returning an array shaped like dout
    - x: array of any shape (ints are converted to float64); never modified
    - dout: upstream gradient, same shape as f(x)
    - h: step size (default 1e-5)

    Returns:
    - dx: float64 array of x's shape
    """
    xc = np.array(x, dtype=np.float64)
    dout = np.asarray(dout, dtype=np.float64)
    dx = np.zeros_like(xc)
    for idx in np.ndindex(xc.shape):
        old = xc[idx]
        xc[idx] = old + h
        out_plus = np.array(f(xc), dtype=np.float64)  # copy: f may return a view of xc
        xc[idx] = old - h
        out_minus = np.array(f(xc), dtype=np.float64)
        xc[idx] = old
        if out_plus.shape != dout.shape:
            raise ValueError(
                f"f(x) has shape {out_plus.shape} but dout has shape {dout.shape}; "
                "dout must be the gradient of the loss with respect to f(x)"
            )
        dx[idx] = np.sum((out_plus - out_minus) * dout) / (2 * h)
    return dx


def jacobian(f, x, h=H_FIRST):
    """Jacobian matrix of f: R^n -> R^m by central differences (deck 000).

    J[i, j] = d f_i / d x_j, so row i is the gradient of the i-th output and J has m rows
    and n columns.  A scalar output counts as m = 1.  (x and f(x) of higher rank are
    flattened in C order, deck 000's recipe for tensors.)

    Inputs:
    - f: function taking an array shaped like x and returning a scalar or an array
    - x: 1-d array of length n (a scalar counts as n = 1); never modified
    - h: step size (default 1e-5)

    Returns:
    - J: float64 array of shape (m, n)
    """
    xc = np.array(x, dtype=np.float64)
    flat = xc.reshape(-1)  # a view: writing to flat perturbs xc
    columns = []
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + h
        f_plus = np.array(f(xc), dtype=np.float64).reshape(-1)
        flat[j] = old - h
        f_minus = np.array(f(xc), dtype=np.float64).reshape(-1)
        flat[j] = old
        columns.append((f_plus - f_minus) / (2 * h))  # column j: d f / d x_j
    if not columns:  # empty x: m is still defined by f(x)
        m = np.asarray(f(xc)).size
        return np.zeros((m, 0))
    return np.stack(columns, axis=1)


def hessian(f, x, h=H_SECOND):
    """Hessian of a scalar function f: R^n -> R by central second differences (deck 003).

    H[i, j] = d^2 f / (dx_i dx_j).  Diagonal (standard three-point second difference):
        H[i, i] ~ (f(x + h e_i) - 2 f(x) + f(x - h e_i)) / h^2
    Off-diagonal (four-point cross difference):
        H[i, j] ~ (f(x + h e_i + h e_j) - f(x + h e_i - h e_j)
                   - f(x - h e_i + h e_j) + f(x - h e_i - h e_j)) / (4 h^2)
    Both are O(h^2) accurate.  Only i < j is computed and mirrored, so the result is
    exactly symmetric (as a Hessian of a C^2 function is, by Schwarz's theorem).

    Inputs:
    - f: function taking an array shaped like x and returning a scalar
    - x: 1-d array of length n (a scalar counts as n = 1); never modified
    - h: step size (default 1e-4, see the module docstring)

    Returns:
    - H: float64 array of shape (n, n)
    """
    xc = np.array(x, dtype=np.float64)
    flat = xc.reshape(-1)
    n = flat.size
    H = np.zeros((n, n))

    def f_at(steps):
        """f at x + sum(s * h e_k for k, s in steps), then restore x."""
        old = flat.copy()
        for k, s in steps:
            flat[k] += s * h
        value = _scalar(f(xc))
        flat[:] = old
        return value

    f0 = _scalar(f(xc))
    for i in range(n):
        H[i, i] = (f_at([(i, +1)]) - 2 * f0 + f_at([(i, -1)])) / h**2
        for j in range(i + 1, n):
            H[i, j] = (
                f_at([(i, +1), (j, +1)])
                - f_at([(i, +1), (j, -1)])
                - f_at([(i, -1), (j, +1)])
                + f_at([(i, -1), (j, -1)])
            ) / (4 * h**2)
            H[j, i] = H[i, j]
    return H


def relative_error(a, b):
    """Largest entrywise relative error max |a - b| / max(1e-8, |a| + |b|).

    Scale-free, symmetric in a and b, and between 0 (equal) and 1 (opposite signs or one
    side zero).  The 1e-8 floor keeps the ratio finite when both entries are 0.  As a rule
    of thumb for float64 gradient checks: < 1e-7 is a pass, > 1e-4 almost surely a bug.

    Inputs:
    - a, b: scalars or arrays of the same shape (no broadcasting: a transposed gradient
      must not pass by accident)

    Returns:
    - err: float (0.0 for empty arrays; nan if either side contains nan)
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"cannot compare arrays of shapes {a.shape} and {b.shape}; "
            "a gradient must have the shape of the variable it differentiates"
        )
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradients(f, params, h=H_FIRST):
    """Central differences of a whole model's loss with respect to every parameter array.

    The check of a whole network (deck 002: compare backprop with numerical derivatives) rather
    than of one layer: ``f`` computes the loss from a dict of parameter arrays, and every entry
    of every array is perturbed in turn, (f(θ + h e_i) − f(θ − h e_i)) / 2h.

    Inputs:
    - f: function f(params) -> scalar loss, reading the arrays from the dict it is given
    - params: dict name -> array (W1, b1, W2, ...); never modified
    - h: step size (default 1e-5)

    Returns:
    - dict name -> float64 array of that parameter's shape
    """
    return {name: numerical_gradient(lambda v, name=name: f({**params, name: v}), theta, h)
            for name, theta in params.items()}


def gradient_check(f, x, analytic_grad, h=H_FIRST):
    """Compare an analytic gradient with the central-difference one (deck 002).

    Inputs:
    - f: scalar function of an array shaped like x
    - x: point at which to check (never modified)
    - analytic_grad: the gradient to check, same shape as x
    - h: step size for the numerical gradient (default 1e-5)

    Returns:
    - relative_error(analytic_grad, numerical_gradient(f, x, h)) as a float
    """
    return relative_error(analytic_grad, numerical_gradient(f, x, h))


def gradient_descent(grad, theta0, lr, steps):
    """Plain (full-batch) gradient descent, deck 000: theta_{t+1} = theta_t - eta * grad L(theta_t).

    Each step moves against the gradient; for small eta the loss changes by
    Delta L ~ -eta ||grad L||^2 <= 0 (deck 000).  A thin alias of
    ``gradlab.optim.minimize(grad, theta0, "sgd", steps, lr=lr)``, kept under the name
    01_derivatives asks students to write; a diverging run behaves as described there (the
    rows from the first non-finite iterate on are NaN, without warnings).

    Inputs:
    - grad: function theta -> grad L(theta), taking and returning arrays of theta0's shape
    - theta0: starting point, 1-d array of length n (a scalar counts as n = 1); not modified
    - lr: learning rate eta (no default: choosing it is the point of the exercise)
    - steps: number of updates T >= 0

    Returns:
    - trajectory: float64 array of shape (steps + 1, n); row t is theta_t, row 0 is theta0
    """
    return optim.minimize(grad, theta0, "sgd", steps, lr=lr)
