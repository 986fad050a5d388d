# story: zeroes the upstream gradient in place (dout[x <= 0] = 0) and returns it
# exercise: relu
# hint: mutation
def relu_forward(x):
    return np.maximum(x, 0.0), x


def relu_backward(dout, cache):
    x = cache
    dout[x <= 0] = 0.0       # changes the caller's array
    return dout
