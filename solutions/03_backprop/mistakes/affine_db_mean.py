# story: averages db over the batch instead of summing it
# exercise: affine
# hint: factor
# message: a mean over the N examples (1/N) where their sum was expected
def affine_forward(x, w, b):
    return x @ w + b, (x, w)

def affine_backward(dout, cache):
    x, w = cache
    dx = dout @ w.T
    dw = x.T @ dout
    db = dout.mean(axis=0)
    return dx, dw, db
