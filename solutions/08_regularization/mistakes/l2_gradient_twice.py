# story: differentiates (λ/2)·ΣW² to 2λ·W, keeping the 2 that the ½ was there to cancel
# exercise: l2_penalty
# hint: known-mistake
def l2_penalty(weights, lam):
    penalty = 0.5 * lam * sum(float(np.sum(w ** 2)) for w in weights)
    return penalty, [2 * lam * w for w in weights]
