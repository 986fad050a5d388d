# story: takes the sigmoid's derivative to be the sigmoid itself, dout * S instead of dout * S (1 - S)
# exercise: sigmoid
# hint: known-mistake
def sigmoid_forward(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out, out


def sigmoid_backward(dout, cache):
    return dout * cache      # S' = S?  (it is S (1 - S))
