# story: draws a mask whatever the mode, so units are dropped at inference too
# exercise: dropout_forward
# hint: known-mistake
def dropout_forward(x, p, mode, rng):
    mask = (rng.random(x.shape) >= p) / (1 - p)
    return x * mask, (mode, mask)
