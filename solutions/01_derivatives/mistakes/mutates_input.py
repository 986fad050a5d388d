# story: perturbs x in place and never puts it back
# exercise: numerical_gradient
# hint: mutation
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(np.shape(x))
    for i in np.ndindex(np.shape(x)):
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad
