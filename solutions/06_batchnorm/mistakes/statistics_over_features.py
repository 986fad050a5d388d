# story: takes the mean and variance of each example (axis 1) instead of each feature (axis 0)
# exercise: batchnorm_forward
# hint: known-mistake
def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    rho = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean")
    running_var = bn_param.get("running_var")
    if running_mean is None:
        running_mean = np.zeros(D)
    if running_var is None:
        running_var = np.ones(D)
    if mode == "train":
        mu = x.mean(axis=1, keepdims=True)
        var = x.var(axis=1, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = (x - mu) * inv_std
        bn_param["running_mean"] = rho * running_mean + (1 - rho) * mu.mean()
        bn_param["running_var"] = rho * running_var + (1 - rho) * var.mean()
    else:
        inv_std = 1.0 / np.sqrt(running_var + eps)
        x_hat = (x - running_mean) * inv_std
    return gamma * x_hat + beta, (mode, x_hat, gamma, inv_std)
