# story: steps with the raw moments m and v, without Adam's bias correction
# exercise: adam
# hint: known-mistake
def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    w, dw = np.asarray(w, dtype=float), np.asarray(dw, dtype=float)
    if state is None:
        state = {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw * dw
    next_w = w - lr * m / (np.sqrt(v) + eps)
    return next_w, {"t": state["t"] + 1, "m": m, "v": v}
