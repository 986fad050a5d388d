# story: puts the weight decay into the gradient (Adam on the L2-penalized loss), where Adam rescales it
# exercise: adamw
# hint: known-mistake
def adamw(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    return optim.adam(w, dw + weight_decay * w, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
