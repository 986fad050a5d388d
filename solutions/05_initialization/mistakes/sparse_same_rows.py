# story: draws the k rows once and gives every unit the same ones
# exercise: sparse_init
# hint: known-mistake
def sparse_init(m, n, k, rng):
    if not 1 <= k <= m:
        raise ValueError(f"need 1 <= k <= m, got k={k}, m={m}")
    W = np.zeros((m, n))
    rows = rng.choice(m, size=k, replace=False)
    W[rows, :] = rng.standard_normal((k, n)) / np.sqrt(k)
    return W
