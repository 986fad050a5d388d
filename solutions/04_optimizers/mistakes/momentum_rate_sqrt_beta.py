# story: takes both roots' modulus to be sqrt(beta), true only where they are complex (under-damped)
# exercise: momentum_rate
# hint: known-mistake
def momentum_rate(lr, beta, eigenvalues):
    # the roots' product is beta, so each root has modulus sqrt(beta)
    return float(np.sqrt(beta))
