"""Automatic differentiation on scalars: a reverse-mode engine (``Value``) and forward-mode
dual numbers (``Dual``).

This module mirrors the "computational graph" part of the course: deck 001 (Back
Propagation), which differentiates the logistic loss through a chain of elementary nodes
xi_1 ... xi_6, and the computational graphs of deck 000.

The node view (deck 001)
------------------------
Split a formula into elementary steps.  For the logistic loss
L_i = L^A + L^B with L^A = -y log sigma(W X) and L^B = -(1 - y) log(1 - sigma(W X)),
deck 001 writes L^A as the chain

    xi_1 = -W X,   xi_2 = e^{xi_1},   xi_3 = 1 + xi_2,   xi_4 = 1 / xi_3 (= p),
    xi_5 = log xi_4,   L^A = -y xi_5

(and L^B through xi_5 = 1 - xi_4, xi_6 = log xi_5).  Each node carries a *pair*: its value
and its local derivative with respect to its input (d xi_2 / d xi_1 = e^{xi_1},
d xi_4 / d xi_3 = -1 / xi_3^2, ...).  The chain rule multiplies the local derivatives along
the path:  dL^A/dW = (dL/dxi_5)(dxi_5/dxi_4)(dxi_4/dxi_3)(dxi_3/dxi_2)(dxi_2/dxi_1)(dxi_1/dW).
At X = 3, y = 1, W = 3 this is -3 e^{-9} / (1 + e^{-9}) = -3 sigma(-9), about -3.7018e-4.

The product can be accumulated in two orders:

* forward mode (``Dual``): start at the input with dW/dW = 1 and carry d(node)/dW along
  with each value, left to right.  One pass gives the derivative of *every* node with
  respect to *one* input.  A dual number a + a' e (with e^2 = 0) is exactly such a
  (value, derivative) pair: f(a + a' e) = f(a) + f'(a) a' e.
* reverse mode (``Value``, i.e. backpropagation): first evaluate all values forward and
  record the graph; then start at the output with dL/dL = 1 and push dL/d(node) back to
  every input, right to left.  One pass gives the derivative of *one* output with respect
  to *every* input -- what training needs (one loss, many weights).

``Value`` follows the design of a small reverse-mode engine: each operation builds its output
node together with a ``_backward`` closure that applies the local derivative and
*accumulates* (``+=``) into its inputs' ``grad`` -- a node used twice receives both
contributions (the multivariate chain rule sums over paths, deck 000/001).  ``backward``
orders the graph topologically with an explicit stack (no recursion, so a chain of
100 000 nodes is fine) and walks it in reverse.

The module-level functions ``exp, log, tanh, sigmoid, relu`` accept a ``Value``, a ``Dual``,
a number or a NumPy array, so one formula can be evaluated in either mode or plainly.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["Value", "Dual", "derivative", "exp", "log", "tanh", "sigmoid", "relu"]


def _sigmoid_float(x):
    """sigma(x) = 1 / (1 + e^{-x}) without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _real_power(a, k):
    """a**k, refusing the complex results Python gives for a < 0 and fractional k."""
    if a < 0 and not k.is_integer():
        raise ValueError(f"{a!r} ** {k!r} is not a real number (negative base, fractional exponent)")
    return a**k


def _check_log_domain(x):
    if x <= 0:
        raise ValueError(f"log is only defined for positive numbers, got {x!r}")


# =============================================================================== reverse mode

class Value:
    """A scalar node of a computational graph, differentiated in reverse mode.

    Attributes:
    - data: the node's value (float)
    - grad: dL/d(this node) after ``L.backward()`` (float, starts at 0.0)
    - _prev: the nodes this one was computed from (tuple; empty for a leaf)
    - _op: name of the operation that produced it ('' for a leaf), for drawing graphs
    - label: optional name, for drawing graphs

    Example (deck 000, f = x^2 + xy + y^2):
        >>> x, y = Value(1.0), Value(2.0)
        >>> f = x**2 + x*y + y**2
        >>> f.backward()
        >>> x.grad, y.grad          # (2x + y, x + 2y)
        (4.0, 5.0)
    """

    __array_ufunc__ = None  # let numpy scalars defer to our r-operators

    def __init__(self, data, _children=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None  # a leaf has nothing to pass on
        self._prev = tuple(_children)
        self._op = _op
        self.label = label

    @staticmethod
    def _lift(other):
        """Numbers become constant leaves; other types are not ours to combine with."""
        if isinstance(other, Value):
            return other
        if isinstance(other, numbers.Real):
            return Value(other)
        return None

    # ---------------------------------------------------------------- arithmetic
    def __add__(self, other):
        other = self._lift(other)
        if other is None:
            return NotImplemented
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            # z = a + b: dz/da = dz/db = 1
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = self._lift(other)
        if other is None:
            return NotImplemented
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            # z = a * b: dz/da = b, dz/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, k):
        if not isinstance(k, numbers.Real):
            return NotImplemented  # only constant exponents: z = a^k
        k = float(k)
        out = Value(_real_power(self.data, k), (self,), f"**{k:g}")

        def _backward():
            # z = a^k: dz/da = k a^(k-1)   (deck 000: d/dx x^2 = 2x)
            self.grad += k * self.data ** (k - 1) * out.grad
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        other = self._lift(other)
        if other is None:
            return NotImplemented
        return self + (-other)

    def __truediv__(self, other):
        other = self._lift(other)
        if other is None:
            return NotImplemented
        return self * other**-1  # a / b = a * b^-1 (deck 001's xi_4 = 1 / xi_3)

    def __radd__(self, other):      # other + self
        return self + other

    def __rmul__(self, other):      # other * self
        return self * other

    def __rsub__(self, other):      # other - self
        other = self._lift(other)
        if other is None:
            return NotImplemented
        return other + (-self)

    def __rtruediv__(self, other):  # other / self
        other = self._lift(other)
        if other is None:
            return NotImplemented
        return other * self**-1

    # ---------------------------------------------------------------- elementary functions
    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            # z = e^a: dz/da = e^a = z   (deck 001: d xi_2 / d xi_1 = e^{xi_1})
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def log(self):
        _check_log_domain(self.data)
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            # z = log a: dz/da = 1 / a   (deck 001: d xi_5 / d xi_4 = 1 / xi_4)
            self.grad += out.grad / self.data
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            # z = tanh a: dz/da = 1 - tanh^2 a   (deck 002)
            self.grad += (1.0 - t * t) * out.grad
        out._backward = _backward
        return out

    def sigmoid(self):
        s = _sigmoid_float(self.data)
        out = Value(s, (self,), "sigmoid")

        def _backward():
            # z = sigma(a): dz/da = sigma(a) (1 - sigma(a))   (deck 003: S' = S(1 - S))
            self.grad += s * (1.0 - s) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            # z = max(0, a): dz/da = 1 if a > 0 else 0 (0 at the kink, by convention; deck 002)
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad
        out._backward = _backward
        return out

    # ---------------------------------------------------------------- reverse pass
    def backward(self):
        """Fill ``grad`` of every node in this graph with d(self)/d(node).

        Steps: (1) order the graph so every node comes after the nodes it was computed
        from (depth-first post-order with an explicit stack -- no recursion limit);
        (2) reset the grads of the *intermediate* nodes and set d(self)/d(self) = 1;
        (3) visit the nodes from the output back to the inputs, each applying its local
        derivative and adding (+=) into its inputs' grads.

        Leaf grads are *not* reset, so calling ``backward`` on two losses adds their
        gradients into the leaves (set ``leaf.grad = 0.0`` between optimizer steps).
        """
        topo = []
        visited = set()
        stack = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                topo.append(node)  # all inputs of node are already in topo
                continue
            if node in visited:
                continue
            visited.add(node)
            stack.append((node, True))
            for child in node._prev:
                if child not in visited:
                    stack.append((child, False))

        for node in topo:
            if node._prev:
                node.grad = 0.0
        self.grad = 1.0  # dL/dL = 1
        for node in reversed(topo):
            node._backward()

    def __repr__(self):
        return f"Value(data={self.data!r}, grad={self.grad!r})"


# =============================================================================== forward mode

class Dual:
    """A dual number value + deriv * e with e^2 = 0: a (value, derivative) pair carried
    forward through a computation (forward mode, deck 001).

    For any differentiable f, f(a + a' e) = f(a) + f'(a) a' e, so seeding deriv = 1 on an
    input gives the derivative of every downstream quantity with respect to that input.

    Attributes:
    - value: the primal value (float)
    - deriv: the derivative with respect to the seeded input (float)
    """

    __array_ufunc__ = None

    def __init__(self, value, deriv=0.0):
        self.value = float(value)
        self.deriv = float(deriv)

    @staticmethod
    def _lift(other):
        if isinstance(other, Dual):
            return other
        if isinstance(other, numbers.Real):
            return Dual(other, 0.0)  # a constant has derivative 0
        return None

    def __add__(self, other):
        other = self._lift(other)
        if other is None:
            return NotImplemented
        return Dual(self.value + other.value, self.deriv + other.deriv)  # (a + b)' = a' + b'

    def __mul__(self, other):
        other = self._lift(other)
        if other is None:
            return NotImplemented
        # product rule: (a b)' = a' b + a b'
        return Dual(self.value * other.value, self.deriv * other.value + self.value * other.deriv)

    def __pow__(self, k):
        if not isinstance(k, numbers.Real):
            return NotImplemented
        k = float(k)
        return Dual(_real_power(self.value, k), k * self.value ** (k - 1) * self.deriv)  # (a^k)' = k a^(k-1) a'

    def __neg__(self):
        return Dual(-self.value, -self.deriv)

    def __sub__(self, other):
        other = self._lift(other)
        if other is None:
            return NotImplemented
        return Dual(self.value - other.value, self.deriv - other.deriv)

    def __truediv__(self, other):
        other = self._lift(other)
        if other is None:
            return NotImplemented
        # quotient rule: (a / b)' = (a' b - a b') / b^2
        return Dual(self.value / other.value,
                    (self.deriv * other.value - self.value * other.deriv) / other.value**2)

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        other = self._lift(other)
        if other is None:
            return NotImplemented
        return other - self

    def __rtruediv__(self, other):
        other = self._lift(other)
        if other is None:
            return NotImplemented
        return other / self

    def exp(self):
        e = math.exp(self.value)
        return Dual(e, e * self.deriv)                     # (e^a)' = e^a a'

    def log(self):
        _check_log_domain(self.value)
        return Dual(math.log(self.value), self.deriv / self.value)  # (log a)' = a' / a

    def tanh(self):
        t = math.tanh(self.value)
        return Dual(t, (1.0 - t * t) * self.deriv)         # (tanh a)' = (1 - tanh^2 a) a'

    def sigmoid(self):
        s = _sigmoid_float(self.value)
        return Dual(s, s * (1.0 - s) * self.deriv)         # sigma' = sigma (1 - sigma)

    def relu(self):
        on = self.value > 0
        return Dual(self.value if on else 0.0, self.deriv if on else 0.0)

    def __repr__(self):
        return f"Dual(value={self.value!r}, deriv={self.deriv!r})"


def derivative(f, x):
    """df/dx at x by forward mode: evaluate f on the dual number x + 1 e.

    Inputs:
    - f: a function of one real variable built from +, -, *, /, ** (number exponent) and
      this module's exp, log, tanh, sigmoid, relu
    - x: the point (a real number)

    Returns:
    - f'(x) as a float (0.0 if f ignores its argument and returns a plain number)
    """
    out = f(Dual(x, 1.0))
    if isinstance(out, Dual):
        return out.deriv
    if isinstance(out, numbers.Real):
        return 0.0
    raise TypeError(f"f must return a Dual or a number, got {type(out).__name__}")


# =============================================================================== dispatching helpers

def _dispatch(name, x, on_numbers):
    if isinstance(x, (Value, Dual)):
        return getattr(x, name)()
    arr = np.asarray(x, dtype=np.float64)
    out = on_numbers(arr)
    return float(out) if out.ndim == 0 else out


def _np_log(a):
    if np.any(a <= 0):
        raise ValueError("log is only defined for positive numbers")
    return np.log(a)


def _np_sigmoid(a):
    e = np.exp(-np.abs(a))  # never overflows
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def exp(x):
    """e^x for a Value, a Dual, a number (-> float) or an array (-> array)."""
    return _dispatch("exp", x, np.exp)


def log(x):
    """Natural log for a Value, a Dual, a number or an array; raises for x <= 0."""
    return _dispatch("log", x, _np_log)


def tanh(x):
    """tanh x for a Value, a Dual, a number or an array."""
    return _dispatch("tanh", x, np.tanh)


def sigmoid(x):
    """sigma(x) = 1 / (1 + e^{-x}) for a Value, a Dual, a number or an array (overflow-safe)."""
    return _dispatch("sigmoid", x, _np_sigmoid)


def relu(x):
    """max(0, x) for a Value, a Dual, a number or an array."""
    return _dispatch("relu", x, lambda a: np.maximum(a, 0.0))
