# story: swaps the two recipes — Xavier with He's variance 2/m, He with Xavier's 1/m
# exercise: xavier_he
# hint: known-mistake
def xavier(m, n, rng):
    return rng.standard_normal((m, n)) * np.sqrt(2.0 / m)


def he(m, n, rng):
    return rng.standard_normal((m, n)) * np.sqrt(1.0 / m)
