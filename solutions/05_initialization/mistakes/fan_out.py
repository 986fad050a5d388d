# story: divides by the fan-out n (the columns of W) instead of the fan-in m
# exercise: xavier_he
# hint: known-mistake
def xavier(m, n, rng):
    return rng.standard_normal((m, n)) * np.sqrt(1.0 / n)


def he(m, n, rng):
    return rng.standard_normal((m, n)) * np.sqrt(2.0 / n)
