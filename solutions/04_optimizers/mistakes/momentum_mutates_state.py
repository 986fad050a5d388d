# story: writes the new velocity into the state dict it was given instead of a new one
# exercise: momentum
# hint: mutation
def momentum(w, dw, state=None, lr=1e-2, beta=0.9):
    if state is None:
        state = {"t": 0, "v": np.zeros(np.shape(w))}
    state["v"] = beta * state["v"] + dw
    state["t"] = state.get("t", 0) + 1
    return w - lr * state["v"], state
