# story: assigns each input's gradient (=) instead of adding to it (+=), so a node used twice keeps only its last contribution
# exercise: value_ops
# hint: known-mistake
def add(a, b):
    a, b = as_value(a), as_value(b)
    out = Value(a.data + b.data, (a, b), "+")
    def _backward():
        a.grad = out.grad
        b.grad = out.grad
    out._backward = _backward
    return out


def mul(a, b):
    a, b = as_value(a), as_value(b)
    out = Value(a.data * b.data, (a, b), "*")
    def _backward():
        a.grad = b.data * out.grad
        b.grad = a.data * out.grad
    out._backward = _backward
    return out


def power(a, k):
    a = as_value(a)
    out = Value(a.data ** k, (a,), f"**{k:g}")
    def _backward():
        a.grad = k * a.data ** (k - 1) * out.grad
    out._backward = _backward
    return out
