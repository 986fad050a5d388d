# story: multiplies dD by W instead of Wᵀ: the shapes do not fit
# exercise: matmul_backward
# hint: error
# message: the inner dimensions of a matrix product do not match: a transpose or the factors in the wrong order?
def matmul_backward(X, W, dD):
    dX = dD @ W
    dW = X.T @ dD
    return dX, dW
