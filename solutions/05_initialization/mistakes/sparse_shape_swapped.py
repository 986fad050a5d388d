# story: allocates W as (n, m) and indexes it as (m, n): an IndexError in their loop
# exercise: sparse_init
# hint: error
# message: an index past the end of an axis: check the shapes and the loop bounds
def sparse_init(m, n, k, rng):
    W = np.zeros((n, m))
    for j in range(n):
        rows = rng.choice(m, size=k, replace=False)
        W[rows, j] = rng.standard_normal(k) / np.sqrt(k)
    return W
