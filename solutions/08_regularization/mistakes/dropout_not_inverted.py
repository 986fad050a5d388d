# story: drops units but does not divide the kept ones by 1 - p (plain, not inverted, dropout)
# exercise: dropout_forward
# hint: known-mistake
def dropout_forward(x, p, mode, rng):
    if mode == "test":
        return x, (mode, None)
    mask = (rng.random(x.shape) >= p).astype(float)
    return x * mask, (mode, mask)
