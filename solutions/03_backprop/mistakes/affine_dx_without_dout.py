# story: computes dx from a gradient of ones instead of the upstream dout
# exercise: affine
# hint: upstream
# message: the upstream gradient `dout` is not multiplied in: the result is `dout` times the local derivative
def affine_forward(x, w, b):
    return x @ w + b, (x, w)

def affine_backward(dout, cache):
    x, w = cache
    dx = np.ones_like(dout) @ w.T
    dw = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
