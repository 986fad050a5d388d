# story: back-propagates the error through the weights but forgets BP2's Hadamard factor sigma'(z)
# exercise: mlp_loss_and_grads
# hint: mismatch
def mlp_loss_and_grads(X, y, Ws, bs, loss_fn, activation="sigmoid", output_activation=None):
    def sigma(z, name):
        if name == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        if name == "tanh":
            return np.tanh(z)
        return np.maximum(z, 0.0)

    L = len(Ws)
    a_list, z_list = [X], []
    for l in range(L):
        z = a_list[-1] @ Ws[l] + bs[l]
        z_list.append(z)
        if l < L - 1:
            a_list.append(sigma(z, activation))
        elif output_activation is None:
            a_list.append(z)
        else:
            a_list.append(sigma(z, output_activation))
    loss, dout = loss_fn(a_list[-1], y)
    delta = dout if output_activation is None else dout * a_list[-1] * (1 - a_list[-1])
    grads, deltas = [None] * L, [None] * L
    for l in range(L - 1, -1, -1):
        deltas[l] = delta
        grads[l] = (a_list[l].T @ delta, delta.sum(axis=0))
        if l > 0:
            delta = delta @ Ws[l].T          # BP2 without (.) sigma'(z^(l-1))
    return loss, grads, deltas
