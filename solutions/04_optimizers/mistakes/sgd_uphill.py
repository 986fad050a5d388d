# story: adds the gradient: a step uphill
# exercise: sgd
# hint: sign
# message: a sign flip (a step along +∇ instead of −∇, y − t written t − y, a minus sign dropped)?
def sgd(w, dw, state=None, lr=1e-2):
    t = 0 if state is None else state.get("t", 0)
    return np.asarray(w, dtype=float) + lr * np.asarray(dw, dtype=float), {"t": t + 1}
