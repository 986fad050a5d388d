# story: multiplies the upstream gradient by X from the wrong side, so dW comes out transposed (h, m)
# exercise: matmul_backward
# hint: shape
def matmul_backward(X, W, dD):
    dX = dD @ W.T
    dW = dD.T @ X        # (h, n) (n, m) -> (h, m): the transpose of X^T dD
    return dX, dW
