# story: computes the batch statistics but never stores the running averages
# exercise: batchnorm_forward
# hint: state-write
# message: in train mode, store the updated running averages in bn_param
def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization, forward, per feature (deck 001; Ioffe & Szegedy 2015, Algorithm 1).

    Inputs:
    - x: (N, D) mini-batch
    - gamma, beta: (D,) scale and shift
    - bn_param: dict with "mode" ("train" or "test"), optional "eps" (1e-5), "momentum" (0.9),
      "running_mean" (D,) and "running_var" (D,); updated in train mode

    Returns a tuple of:
    - out: (N, D)
    - cache: (mode, x_hat, gamma, inv_std)
    """
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
        mu = x.mean(axis=0)                              # over the batch: one number per feature
        var = ((x - mu) ** 2).mean(axis=0)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = (x - mu) * inv_std
    elif mode == "test":
        inv_std = 1.0 / np.sqrt(running_var + eps)
        x_hat = (x - running_mean) * inv_std
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    else:
        raise ValueError(f'bn_param["mode"] must be "train" or "test", got {mode!r}')
    out = gamma * x_hat + beta
    return out, (mode, x_hat, gamma, inv_std)