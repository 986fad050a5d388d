# story: perturbs the caller's x in place and never puts the entries back
# exercise: numerical_gradient_array
# hint: mutation
def numerical_gradient_array(f, x, dout, h=1e-5):
    x = np.asarray(x, dtype=float)       # no copy for a float array: these are the caller's entries
    dx = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = np.sum(f(x) * dout)
        x[i] = old - h
        minus = np.sum(f(x) * dout)
        dx[i] = (plus - minus) / (2 * h)
    return dx
