# story: writes the weight gradient as dout.T @ x, the transpose of x.T @ dout
# exercise: affine
# hint: shape
def affine_forward(x, w, b):
    out = x @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    dx = dout @ w.T
    dw = dout.T @ x          # (M, D): the transpose of what w needs
    db = dout.sum(axis=0)
    return dx, dw, db
