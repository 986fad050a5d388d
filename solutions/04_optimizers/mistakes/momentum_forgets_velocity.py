# story: computes the new velocity but hands the old one back in the state
# exercise: momentum
# hint: state-write
# message: the new `v` is not written back: return it in the state dict
def momentum(w, dw, state=None, lr=1e-2, beta=0.9):
    w = np.asarray(w, dtype=float)
    v_old = np.zeros_like(w) if state is None else state["v"]
    v = beta * v_old + dw
    t = 0 if state is None else state.get("t", 0)
    return w - lr * v, {"t": t + 1, "v": v_old}
