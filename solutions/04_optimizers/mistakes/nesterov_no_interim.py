# story: leaves out the interim point, which turns Nesterov back into plain momentum
# exercise: nesterov
# hint: known-mistake
def nesterov(w, dw, state=None, lr=1e-2, alpha=0.9):
    w = np.asarray(w, dtype=float)
    v_old = np.zeros_like(w) if state is None else state["v"]
    v = alpha * v_old - lr * np.asarray(dw, dtype=float)
    t = 0 if state is None else state.get("t", 0)
    return w + v, {"t": t + 1, "v": v}
