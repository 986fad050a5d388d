"""The tests of 02_chain_rule: ``matmul_backward``, ``logistic_chain``, ``chain_modes``,
``logistic_gradient``, the student's ``Value`` (its operations and functions, one step back
each), ``backward`` with ``topological_order``, and ``Dual``."""

from __future__ import annotations

import numpy as np

from .. import activations, autodiff, calculus, checks, layers, losses

FORBID = (autodiff,)


# -- matmul_backward ------------------------------------------------------------------------------

def matmul_reference(X, W, dD):
    # gradlab's affine layer computes the same products (its bias gradient is dropped here)
    cache = (np.asarray(X, dtype=float), np.asarray(W, dtype=float))
    dX, dW, _ = layers.affine_backward(np.asarray(dD, dtype=float), cache)
    return dX, dW


# -- logistic_chain -------------------------------------------------------------------------------

def logistic_chain_reference(W, X, y):
    # the same nodes built from gradlab's dual numbers: each local derivative is the tangent of a
    # node when its input is seeded with tangent 1 (an independent way to get the same numbers)
    steps = [lambda w: -w * X, lambda u: u.exp(), lambda u: 1 + u, lambda u: 1 / u, lambda u: u.log(), lambda u: -y * u]
    values, local, u = [], [], float(W)
    for step in steps:
        out = step(autodiff.Dual(u, 1.0))
        values.append(out.value)
        local.append(out.deriv)
        u = out.value
    return np.array(values), np.array(local)


def deck_sign(W, X, y):
    # the local derivative of xi_4 = 1/xi_3 written without its minus sign
    values, local = logistic_chain_reference(W, X, y)
    local[3] = -local[3]
    return values, local


NO_MINUS = {"dxi_4/dxi_3 must be -1/xi_3^2 (negative: 1/t falls as t grows); deck 001's table prints it without "
            "the minus": deck_sign}


# -- chain_modes ----------------------------------------------------------------------------------

def chain_modes_reference(local):
    local = np.asarray(local, dtype=float)
    return np.cumprod(local), np.cumprod(local[::-1])[::-1]   # products from the left / from the right


# -- logistic_gradient ----------------------------------------------------------------------------

FORBID_LOGISTIC = (autodiff, activations, layers, losses)


def logistic_gradient_reference(w, X, y):
    X = np.asarray(X, dtype=float)
    return X.T @ (autodiff.sigmoid(X @ np.asarray(w, dtype=float)) - np.asarray(y, dtype=float))


def logistic_loss(w, X, y):
    s = X @ w
    return np.sum(np.logaddexp(0.0, s) - y * s)        # = sum -y log p - (1 - y) log(1 - p), overflow-free


def check_logistic_gradient_numerically(logistic_gradient, w, X, y, name):
    """The student's gradient against central differences of :func:`logistic_loss`."""
    __tracebackhide__ = True
    checks.assert_close(logistic_gradient(w, X, y), calculus.numerical_gradient(lambda v: logistic_loss(v, X, y), w),
                        name=name, rtol=1e-6, atol=1e-8)


# -- Value: one step back through a node ----------------------------------------------------------

def step(make, op, datas, upstream, start, shared=False, check_graph=False):
    """Leaves with grad `start` -> op(*leaves) -> set out.grad = upstream -> out._backward() once.
    Returns [out.data, leaf grads...]; shared=True feeds one leaf into every slot of op;
    check_graph: the node must be a Value that holds its inputs in _prev."""
    leaves = [make(d) for d in datas]
    for leaf in leaves:
        leaf.grad = start                  # as if other uses of the leaf had reported already
    out = op(*(leaves * 2 if shared else leaves))
    if check_graph:
        if not (hasattr(out, "_prev") and hasattr(out, "_backward")):
            raise checks.CheckFailure(f"the node should return a Value, got {type(out).__name__}", "type")
        if not all(any(c is leaf for c in out._prev) for leaf in leaves):
            raise checks.CheckFailure("out._prev must hold the input nodes (pass them to Value(..., (a, b), op)) "
                                      "so that backward can find them", "graph")
    out.grad = upstream
    out._backward()
    return np.array([out.data] + [leaf.grad for leaf in leaves])


def student(Value, op, shared=False):
    """One step back through ``op`` built from the student's ``Value``: (datas, upstream, start) -> array."""
    return lambda datas, upstream, start: step(Value, op, datas, upstream, start, shared, check_graph=True)


def reference(op, shared=False):
    return lambda datas, upstream, start: step(autodiff.Value, op, datas, upstream, start, shared)


def overwritten(op, shared=False):
    # what `grad = ...` instead of `grad += ...` leaves behind: only the last contribution
    def wrong(datas, upstream, start):
        got = step(autodiff.Value, op, list(datas) * (2 if shared else 1), upstream, 0.0)
        return got[:2] if shared else got
    return wrong


OVERWRITTEN = ("a grad was overwritten: every _backward must ADD its share (a.grad += ...), because a node used "
               "several times collects the gradient from every use")


def check_op(Value, mine, theirs, datas, upstream, start, name, shared=False, **tol):
    """``mine`` (an operation on the student's Values) against ``theirs`` (on gradlab's), one step back."""
    __tracebackhide__ = True
    return checks.compare(student(Value, mine, shared), reference(theirs, shared), datas, upstream, start, name=name,
                          forbid=FORBID, mistakes={OVERWRITTEN: overwritten(theirs, shared)}, **tol)


def tanh_without_square(datas, upstream, start):
    t = np.tanh(datas[0])
    return np.array([t, start + (1 - t) * upstream])


def function_mistakes(theirs, name):
    found = {OVERWRITTEN: overwritten(theirs)}
    if name == "tanh":
        found["that is (1 - tanh a) times the upstream gradient: the derivative of tanh is 1 - tanh^2 a (deck 002)"] = \
            tanh_without_square
    return found


FUNCTIONS = {"exp": lambda a: a.exp(), "log": lambda a: a.log(), "tanh": lambda a: a.tanh(),
             "sigmoid": lambda a: a.sigmoid()}


def check_function(Value, mine, name, d, up, start, **tol):
    """The student's function ``name`` (``mine``: exp, log, tanh or sigmoid of a Value) at ``d``."""
    __tracebackhide__ = True
    theirs = FUNCTIONS[name]
    checks.compare(student(Value, mine), reference(theirs), [d], up, start,
                   name=f"{name}(x) at x = {d}, upstream {up}, x.grad before {start}: [out.data, x.grad]",
                   forbid=FORBID, mistakes=function_mistakes(theirs, name), **tol)


# -- backward and topological_order ---------------------------------------------------------------

def grads_by(build, point, sweep):
    """Build the graph at `point` with gradlab's Value, run `sweep` on its root, return the leaf grads."""
    leaves = [autodiff.Value(v) for v in point]
    root = build(*leaves)
    sweep(root)
    return np.array([leaf.grad for leaf in leaves])


def sweep_of(backward):
    """The student's ``backward`` as a sweep (fills the grads in place), too deep a recursion named."""
    def yours(root):
        too_deep = checks.CheckFailure("the graph is deeper than Python's recursion limit: walk it with an explicit "
                                       "stack (a list) instead of a recursive function", "recursion")
        try:
            with checks.tripwire(autodiff.Value.backward):
                backward(root)                # fills the grads in place
        except RecursionError as exc:
            raise too_deep from exc
        except checks.CheckFailure as exc:    # a recursion error inside the call tracer switches it off
            if isinstance(exc.__cause__, RecursionError):
                raise too_deep from exc.__cause__
            raise
    return yours


def check_order(topological_order, build, point, name):
    """Every node once, after its inputs, the root last."""
    __tracebackhide__ = True
    leaves = [autodiff.Value(v) for v in point]
    root = build(*leaves)
    order = topological_order(root)
    position = {id(node): i for i, node in enumerate(order)}
    if len(position) != len(order):
        raise checks.CheckFailure(f"topological_order({name}) lists a node twice: each node must appear once", "order")
    for node in order:
        for child in node._prev:
            if id(child) not in position or position[id(child)] > position[id(node)]:
                raise checks.CheckFailure(f"topological_order({name}) puts a node before one of its inputs "
                                          "(or leaves the input out)", "order")
    if not order or order[-1] is not root:
        raise checks.CheckFailure(f"topological_order({name}) must end with the root", "order")


def check_backward(backward, topological_order, build, point, name, numeric=True):
    """The order, then the leaf grads after the student's backward against gradlab's (and, with
    ``numeric``, against central differences of the same formula on plain numbers)."""
    __tracebackhide__ = True
    check_order(topological_order, build, point, name)
    got = grads_by(build, point, sweep_of(backward))
    checks.assert_close(got, grads_by(build, point, lambda r: r.backward()),
                        name=f"leaf grads after backward of {name}")
    if numeric:   # an independent oracle
        f = lambda v: build(*(float(t) for t in v))  # noqa: E731
        checks.assert_close(got, calculus.numerical_gradient(f, np.array(point, dtype=float)),
                            name=f"leaf grads of {name} vs central differences", rtol=1e-6, atol=1e-8)


# -- Dual -----------------------------------------------------------------------------------------

def dual_of(Dual):
    """``f`` at ``x`` with the student's ``Dual`` seeded dx/dx = 1: [value, derivative]."""
    def yours(f, x):
        out = f(Dual(x, 1.0))                  # seed dx/dx = 1
        return np.array([out.value, out.deriv])
    return yours


def dual_reference(f, x):
    out = f(autodiff.Dual(x, 1.0))
    return np.array([out.value, out.deriv])


def check_dual(Dual, f, x, name, **tol):
    __tracebackhide__ = True
    return checks.compare(dual_of(Dual), dual_reference, f, x, name=f"{name} at x = {x}: [value, derivative]",
                          forbid=FORBID, **tol)
