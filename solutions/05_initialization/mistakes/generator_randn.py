# story: calls np.random's randn on a Generator
# exercise: xavier_he
# hint: error
# message: a NumPy Generator (rng) names its methods differently from np.random: rng.standard_normal, rng.normal, rng.uniform, rng.choice
def xavier(m, n, rng):
    return rng.randn(m, n) * np.sqrt(1.0 / m)

def he(m, n, rng):
    return rng.randn(m, n) * np.sqrt(2.0 / m)
