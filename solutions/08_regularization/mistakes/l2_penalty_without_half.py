# story: writes the penalty as λ·ΣW² (the gradient λ·W is right, but it belongs to (λ/2)·ΣW²)
# exercise: l2_penalty
# hint: known-mistake
# message: the penalty is (λ/2)·ΣW²: the ½ is missing
def l2_penalty(weights, lam):
    penalty = lam * sum(float(np.sum(w.astype(float) ** 2)) for w in weights)
    return penalty, [lam * w.astype(float) for w in weights]
