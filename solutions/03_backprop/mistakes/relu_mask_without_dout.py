# story: returns the ReLU mask itself, without multiplying dout in
# exercise: relu
# hint: upstream
# message: the upstream gradient `dout` is not multiplied in: the result is `dout` times the local derivative
def relu_forward(x):
    return np.maximum(x, 0.0), x

def relu_backward(dout, cache):
    x = cache
    return (x > 0).astype(float)
