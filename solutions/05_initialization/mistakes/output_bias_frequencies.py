# story: returns the class frequencies p_c instead of their logarithm
# exercise: output_bias
# hint: known-mistake
def output_bias(y, K):
    y = np.asarray(y)
    return np.bincount(y, minlength=K) / y.size
