# story: computes dX from a gradient of ones instead of the upstream dD
# exercise: matmul_backward
# hint: upstream
# message: the upstream gradient `dD` is not multiplied in: the result is `dD` times the local derivative
def matmul_backward(X, W, dD):
    dX = np.ones_like(dD) @ W.T
    dW = X.T @ dD
    return dX, dW
