# story: steps along the gradient instead of against it
# exercise: gradient_descent
# hint: sign
# message: the step goes uphill: descent moves against the gradient, θ ← θ − η ∇L
def gradient_descent(grad, theta0, lr, steps):
    theta = np.array(theta0, dtype=float)
    trajectory = [theta.copy()]
    for _ in range(steps):
        theta = theta + lr * np.asarray(grad(theta), dtype=float)
        trajectory.append(theta.copy())
    return np.array(trajectory)
