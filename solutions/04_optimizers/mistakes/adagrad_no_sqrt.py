# story: divides the step by the sum of squared gradients r instead of its square root
# exercise: adagrad
# hint: known-mistake
def adagrad(w, dw, state=None, lr=1e-2, eps=1e-7):
    w, dw = np.asarray(w, dtype=float), np.asarray(dw, dtype=float)
    r = (np.zeros_like(w) if state is None else state["r"]) + dw * dw
    next_w = w - lr / (eps + r) * dw
    t = 0 if state is None else state.get("t", 0)
    return next_w, {"t": t + 1, "r": r}
