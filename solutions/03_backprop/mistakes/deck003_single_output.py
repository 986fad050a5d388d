# story: copies deck 003's single-output simplification, so dE/dw^(0,1)_11 only follows output 1
# exercise: deck003_partials
# hint: known-mistake
def deck003_partials(X, D, W01, W12):
    N = X.shape[0]
    S = lambda u: 1.0 / (1.0 + np.exp(-u))
    y = S(X @ W01)
    o = S(y @ W12)
    g = 2.0 * (o - D) * o * (1.0 - o)
    d12 = np.sum(g[:, 0] * y[:, 0]) / N
    d01 = np.sum(g[:, 0] * W12[0, 0] * y[:, 0] * (1.0 - y[:, 0]) * X[:, 0]) / N
    return float(d12), float(d01)
