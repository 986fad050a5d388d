# story: takes the derivative of tanh as 1 - tanh instead of 1 - tanh^2
# exercise: value_functions
# hint: known-mistake
def exp(a):
    a = as_value(a)
    out = Value(math.exp(a.data), (a,), "exp")
    def _backward():
        a.grad += out.data * out.grad
    out._backward = _backward
    return out


def log(a):
    a = as_value(a)
    out = Value(math.log(a.data), (a,), "log")
    def _backward():
        a.grad += out.grad / a.data
    out._backward = _backward
    return out


def tanh(a):
    a = as_value(a)
    t = math.tanh(a.data)
    out = Value(t, (a,), "tanh")
    def _backward():
        a.grad += (1 - t) * out.grad
    out._backward = _backward
    return out


def sigmoid(a):
    a = as_value(a)
    if a.data >= 0:
        s = 1 / (1 + math.exp(-a.data))
    else:
        e = math.exp(a.data)
        s = e / (1 + e)
    out = Value(s, (a,), "sigmoid")
    def _backward():
        a.grad += s * (1 - s) * out.grad
    out._backward = _backward
    return out
