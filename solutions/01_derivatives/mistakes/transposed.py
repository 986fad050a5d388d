# story: returns the Jacobian as (n, m) instead of (m, n)
# exercise: jacobian
# hint: shape
def jacobian(f, x, h=1e-5):
    x = np.asarray(x, dtype=float)
    columns = []
    for j in range(x.size):
        step = np.zeros_like(x)
        step[j] = h
        columns.append(np.atleast_1d((f(x + step) - f(x - step)) / (2 * h)))
    return np.array(columns)  # one row per input: the transpose
