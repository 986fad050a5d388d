# story: keeps a unit where the uniform draw is below p, so p becomes the probability of keeping
# exercise: dropout_forward
# hint: known-mistake
# message: units were kept where u < p: p is the probability of dropping, keep where u >= p
def dropout_forward(x, p, mode, rng):
    if mode == "test":
        return x, (mode, None)
    u = rng.random(x.shape)
    mask = (u < p) / (1 - p)
    return x * mask, (mode, mask)
