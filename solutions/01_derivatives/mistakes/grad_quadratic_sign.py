# story: returns the negative gradient (the descent direction) instead of the gradient
# exercise: grad_quadratic
# hint: sign
# message: a sign flip (a step along +∇ instead of −∇, y − t written t − y, a minus sign dropped)?
def grad_quadratic(x, y):
    return np.array([-(2 * x + y), -(x + 2 * y)], dtype=float)
