# story: normalizes the caller's array in place (x -= mu) to save memory
# exercise: batchnorm_forward
# hint: mutation
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
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        bn_param["running_mean"] = rho * running_mean + (1 - rho) * mu
        bn_param["running_var"] = rho * running_var + (1 - rho) * var
    else:
        mu, var = running_mean, running_var
    inv_std = 1.0 / np.sqrt(var + eps)
    x -= mu
    x *= inv_std
    return gamma * x + beta, (mode, x, gamma, inv_std)
