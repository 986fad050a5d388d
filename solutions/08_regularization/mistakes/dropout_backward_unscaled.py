# story: lets the gradient through where the unit was kept, but forgets the mask's 1/(1 - p)
# exercise: dropout_backward
# hint: known-mistake
def dropout_backward(dout, cache):
    mode, mask = cache
    if mode == "test":
        return dout
    return dout * (mask > 0)
