# story: takes the forward difference (f(θ + h) − f(θ)) / h for every entry, not the central one
# exercise: numerical_gradients
# hint: known-mistake
# message: that is the forward difference (f(θ + h) − f(θ)) / h: a central difference uses f(θ + h) − f(θ − h) over 2h
def numerical_gradients(f, params, h=1e-5):
    grads = {}
    for name, theta in params.items():
        g = np.zeros(theta.shape)
        base = f(params)
        for idx in np.ndindex(theta.shape):
            old = theta[idx]
            theta[idx] = old + h
            plus = f(params)
            theta[idx] = old
            g[idx] = (plus - base) / h
        grads[name] = g
    return grads
