# story: starts t at 1 and never advances it
# exercise: adam
# hint: state-t
# message: t is not advanced: each call counts one step, t = state["t"] + 1
def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    w, dw = np.asarray(w, dtype=float), np.asarray(dw, dtype=float)
    if state is None:
        state = {"t": 1, "m": np.zeros_like(w), "v": np.zeros_like(w)}
    t = state["t"]
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), {"t": t, "m": m, "v": v}
