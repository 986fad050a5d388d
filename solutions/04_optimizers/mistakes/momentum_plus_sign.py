# story: carries deck 001's plus sign over to deck 000's velocity, so every step goes uphill
# exercise: momentum
# hint: known-mistake
def momentum(w, dw, state=None, lr=1e-2, beta=0.9):
    w = np.asarray(w, dtype=float)
    v_old = np.zeros_like(w) if state is None else state["v"]
    v = beta * v_old + dw
    next_w = w + lr * v
    t = 0 if state is None else state.get("t", 0)
    return next_w, {"t": t + 1, "v": v}
