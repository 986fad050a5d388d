# story: puts eps under the square root, sqrt(r + eps), where deck 001 adds it to sqrt(r)
# exercise: rmsprop
# hint: known-mistake
def rmsprop(w, dw, state=None, lr=1e-3, rho=0.9, eps=1e-8):
    w, dw = np.asarray(w, dtype=float), np.asarray(dw, dtype=float)
    r_old = np.zeros_like(w) if state is None else state["r"]
    r = rho * r_old + (1 - rho) * dw * dw
    next_w = w - lr / np.sqrt(r + eps) * dw
    t = 0 if state is None else state.get("t", 0)
    return next_w, {"t": t + 1, "r": r}
