# story: back-propagates through the mean but forgets the path through the variance
# exercise: batchnorm_backward
# hint: known-mistake
def batchnorm_backward(dout, cache):
    mode, x_hat, gamma, inv_std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma
    if mode == "test":
        return g * inv_std, dgamma, dbeta
    N = dout.shape[0]
    dx = inv_std / N * (N * g - g.sum(axis=0))
    return dx, dgamma, dbeta
