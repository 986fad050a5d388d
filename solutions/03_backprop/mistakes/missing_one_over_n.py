# story: averages the loss over the batch but forgets the 1/N in its gradient
# exercise: softmax_cross_entropy
# hint: factor
def softmax_cross_entropy(scores, labels):
    N = scores.shape[0]
    rows = np.arange(N)
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    p = e / e.sum(axis=1, keepdims=True)
    loss = -float(np.log(p[rows, labels]).sum()) / N
    dscores = p.copy()
    dscores[rows, labels] -= 1.0
    return loss, dscores     # the loss is a mean, so its gradient needs / N too
