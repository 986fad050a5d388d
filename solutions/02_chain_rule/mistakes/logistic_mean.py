# story: averages the gradient over the examples where the loss is their sum
# exercise: logistic_gradient
# hint: factor
# message: a mean over the N examples (1/N) where their sum was expected
def logistic_gradient(w, X, y):
    X = np.asarray(X, dtype=float)
    p = 1 / (1 + np.exp(-(X @ np.asarray(w, dtype=float))))
    return X.T @ (p - np.asarray(y, dtype=float)) / X.shape[0]
