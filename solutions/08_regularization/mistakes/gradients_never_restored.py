# story: perturbs each parameter entry in place and never puts the old value back
# exercise: numerical_gradients
# hint: mutation
def numerical_gradients(f, params, h=1e-5):
    grads = {}
    for name, theta in params.items():
        g = np.zeros(theta.shape)
        for idx in np.ndindex(theta.shape):
            old = theta[idx]
            theta[idx] = old + h
            plus = f(params)
            theta[idx] = old - h
            minus = f(params)
            g[idx] = (plus - minus) / (2 * h)
        grads[name] = g
    return grads
