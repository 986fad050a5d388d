# story: writes the error as y - p instead of p - y, so the gradient points uphill
# exercise: logistic_gradient
# hint: sign
def logistic_gradient(w, X, y):
    X = np.asarray(X, dtype=float)
    s = X @ np.asarray(w, dtype=float)
    e = np.exp(-np.abs(s))
    p = np.where(s >= 0, 1 / (1 + e), e / (1 + e))
    return X.T @ (np.asarray(y, dtype=float) - p)
