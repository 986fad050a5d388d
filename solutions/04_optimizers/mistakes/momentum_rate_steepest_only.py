# story: checks only the steepest direction, as for gradient descent's bound 2/lambda_max, and misses the slow flat one
# exercise: momentum_rate
# hint: known-mistake
def momentum_rate(lr, beta, eigenvalues):
    lam = max(eigenvalues)
    p = 1 + beta - lr * lam
    return float(np.abs(np.roots([1.0, -p, beta])).max())
