"""The tests of 04_optimizers: each update rule one step from a given state
(:func:`check_step`) and along a trajectory from state None (:func:`check_path`) against
gradlab's, its typical mistakes named; ``momentum_rate`` (:func:`check_rate`) and
``cyclical_lr`` (:func:`check_schedule`)."""

from __future__ import annotations

from functools import partial

import numpy as np

from .. import checks, optim, playground

FORBID = (optim,)
FORBID_RATE = (playground,)

# the state entries each rule's test compares besides next_w
KEYS = {"sgd": (), "momentum": ("v",), "momentum_velocity": ("v",), "nesterov": ("v",), "adagrad": ("r",),
        "rmsprop": ("r",), "adam": ("m", "v")}


# -- the typical wrong update rules, each built from gradlab's ------------------------------------

def plus_sign(w, dw, state=None, lr=1e-2, beta=0.9):
    # deck 001's plus sign with deck 000's velocity: theta <- theta + eta v (a step uphill)
    next_w, new_state = optim.momentum(w, dw, state, lr=lr, beta=beta)
    return 2 * np.asarray(w, dtype=float) - next_w, new_state


def no_root(w, dw, state=None, lr=1e-2, eps=1e-7):
    # divides by r itself instead of its square root
    _, new_state = optim.adagrad(w, dw, state, lr=lr, eps=eps)
    return np.asarray(w, dtype=float) - lr / (eps + new_state["r"]) * np.asarray(dw, dtype=float), new_state


def eps_inside(w, dw, state=None, lr=1e-3, rho=0.9, eps=1e-8):
    # puts eps under the square root
    _, new_state = optim.rmsprop(w, dw, state, lr=lr, rho=rho, eps=eps)
    return np.asarray(w, dtype=float) - lr / np.sqrt(eps + new_state["r"]) * np.asarray(dw, dtype=float), new_state


def adam_eps_inside(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    # puts eps under the square root: m_hat / sqrt(v_hat + eps), not m_hat / (sqrt(v_hat) + eps)
    _, new_state = optim.adam(w, dw, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    t = new_state["t"]
    m_hat, v_hat = new_state["m"] / (1 - beta1 ** t), new_state["v"] / (1 - beta2 ** t)
    return np.asarray(w, dtype=float) - lr * m_hat / np.sqrt(v_hat + eps), new_state


def uncorrected(w, dw, state=None, **hyper):
    # Adam with m and v used as they are (the reference run as if t were huge: 1 - beta^t = 1)
    t = 0 if state is None else state.get("t", 0)
    next_w, new_state = optim.adam(w, dw, {**(state or {}), "t": 10 ** 9}, **hyper)
    return next_w, {**new_state, "t": t + 1}


MISTAKES = {
    "momentum": {"the step goes uphill: with deck 000's v (a sum of gradients) the update is theta <- theta - eta v; "
                 "the plus sign belongs to deck 001's convention, whose v already holds -eta g": plus_sign},
    "nesterov": {"that is plain momentum (deck 001's v <- alpha v - eps g, theta <- theta + v): Nesterov returns the "
                 "next interim point, next_w = w + v_new + alpha (v_new - v_old)": optim.momentum_velocity},
    "adagrad": {"the step divides by r (a sum of squared gradients) itself: AdaGrad divides by its square root, "
                "eps + sqrt(r), so the step has the units of eps": no_root},
    "rmsprop": {"eps sits under the square root: deck 001 divides by eps + sqrt(r), with eps outside the root "
                "(it matters when r is small)": eps_inside},
    "adam": {"no bias correction: m and v start at 0, so early on they are too small; divide them by "
             "(1 - beta1^t) and (1 - beta2^t) before the step (t counts the steps, starting at 1)": uncorrected,
             "eps sits under the square root: Adam divides m_hat by sqrt(v_hat) + eps (deck 001: sqrt(r_hat) + "
             "delta), with eps outside the root (it matters when v is small)": adam_eps_inside},
}


# -- one step, and a trajectory -------------------------------------------------------------------

def one_step(rule, update):
    """``update`` (a rule of the exercise ``rule``: "sgd", "momentum", ...) as one call
    ``fn(w, dw, state=None, **hyper) -> (next_w, *the state's entries KEYS[rule])`` (next_w
    alone for sgd)."""
    return checks.one_step(update, keys=KEYS[rule])


def check_step(rule, update, w, dw, state=None, *, name, **hyper):
    """The student's ``update`` called once from ``state`` against gradlab's rule ``rule`` on the
    same inputs (see :func:`one_step`).  Returns the student's result."""
    __tracebackhide__ = True
    step = partial(one_step, rule)
    return checks.compare(step(update), step(getattr(optim, rule)), w, dw, state, name=name, forbid=FORBID,
                          mistakes={hint: step(wrong) for hint, wrong in MISTAKES.get(rule, {}).items()}, **hyper)


def check_path(rule, update, w0, grads, *, name, **hyper):
    """``w`` after each of several calls of the student's ``update`` from state None, fed
    ``grads`` (a list, or a function of ``w`` with ``steps=``), against gradlab's rule.
    Returns the student's path, one row per step."""
    __tracebackhide__ = True
    run = checks.trajectory
    return checks.compare(run(update), run(getattr(optim, rule)), w0, grads, name=name, forbid=FORBID,
                          mistakes={hint: run(wrong) for hint, wrong in MISTAKES.get(rule, {}).items()}, **hyper)


def deck_nesterov(grad, theta0, steps, lr, alpha):
    # deck 001 as written: the gradient at the interim point theta + alpha v; returns the interim points
    theta, v, interim = np.array(theta0, dtype=float), np.zeros(np.shape(theta0)), []
    for _ in range(steps):
        v = alpha * v - lr * grad(theta + alpha * v)
        theta = theta + v
        interim.append(theta + alpha * v)
    return np.array(interim)


# -- momentum_rate --------------------------------------------------------------------------------

def sqrt_beta(lr, beta, eigenvalues):
    return np.sqrt(beta)


def steepest_only(lr, beta, eigenvalues):
    return playground.predicted_rate(lr, beta, [np.max(eigenvalues)])


RATE_MISTAKES = {"that is sqrt(beta) everywhere, the modulus of complex roots only: where the roots are real "
                 "(over-damped) the larger root is bigger than sqrt(beta)": sqrt_beta,
                 "that is the rate of the steepest direction alone: the rate is the worst over all the "
                 "eigenvalues, and the flat direction is often the slow one": steepest_only}


def check_rate(momentum_rate, lr, beta, eigenvalues, name):
    """The student's ``momentum_rate`` against the playground's prediction (relative 1e-6)."""
    __tracebackhide__ = True
    return checks.compare(momentum_rate, playground.predicted_rate, lr, beta, eigenvalues, rtol=1e-6, name=name,
                          forbid=FORBID_RATE, mistakes=RATE_MISTAKES)


# -- cyclical_lr ----------------------------------------------------------------------------------

def _values(make, args, ts):
    # the schedule made by make(*args), at every t in ts
    schedule = make(*args)
    if not callable(schedule):
        raise checks.CheckFailure(f"cyclical_lr returns a function of t, got {schedule!r:.60}",
                                  "none" if schedule is None else "type")
    rates = [schedule(t) for t in ts]
    for t, rate in zip(ts, rates):
        try:
            float(rate)
        except (TypeError, ValueError):
            raise checks.CheckFailure(f"the schedule returns the learning rate at t, a number; at t = {t} it "
                                      f"returned {rate!r:.60}", "none" if rate is None else "type") from None
    return np.array(rates, dtype=float)


def values(make):
    """``fn(args, ts)``: the learning rates of the schedule ``make(*args)`` at every ``t`` in ``ts``
    (wrapping ``make``: an error inside it is reported in the student's terms)."""
    fn = partial(_values, make)
    fn.__name__ = getattr(make, "__name__", "schedule")
    fn.__wrapped__ = make
    return fn


def check_schedule(cyclical_lr, args, ts, name):
    """The student's schedule ``cyclical_lr(*args)`` at every ``t`` in ``ts`` against gradlab's;
    returns the student's rates."""
    __tracebackhide__ = True
    return checks.compare(values(cyclical_lr), values(optim.cyclical_lr), args, ts, name=name, forbid=FORBID)
