# story: subtracts weight_decay · w from the weights without the learning rate in front of it
# exercise: adamw
# hint: known-mistake
# message: the decay is lr·weight_decay·w: the factor lr is missing
def adamw(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    next_w, state = optim.adam(w, dw, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    return next_w - weight_decay * np.asarray(w, dtype=float), state
