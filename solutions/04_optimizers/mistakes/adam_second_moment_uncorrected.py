# story: bias-corrects the first moment only
# exercise: adam
# hint: factor
# message: the second moment v is not bias-corrected: divide it by (1 - beta2^t) before the square root
def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    w, dw = np.asarray(w, dtype=float), np.asarray(dw, dtype=float)
    if state is None:
        state = {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1 ** t)
    return w - lr * m_hat / (np.sqrt(v) + eps), {"t": t, "m": m, "v": v}
