# story: sums x_hat for dgamma without multiplying dout in
# exercise: batchnorm_backward
# hint: upstream
# message: the upstream gradient `dout` is not multiplied in: the result is `dout` times the local derivative
def batchnorm_backward(dout, cache):
    """Batch normalization, backward (deck 001).

    Inputs:
    - dout: (N, D) upstream gradient dL/dy
    - cache: (mode, x_hat, gamma, inv_std) from batchnorm_forward

    Returns a tuple of:
    - dx: (N, D)
    - dgamma: (D,)
    - dbeta: (D,)
    """
    mode, x_hat, gamma, inv_std = cache
    dbeta = dout.sum(axis=0)
    dgamma = x_hat.sum(axis=0)
    g = dout * gamma                                     # dL/dx_hat
    if mode == "test":
        return g * inv_std, dgamma, dbeta                # mu and var are constants
    N = dout.shape[0]
    dx = inv_std / N * (N * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, dgamma, dbeta