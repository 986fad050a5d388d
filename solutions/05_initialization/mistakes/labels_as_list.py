# story: reads y.size, which a list of labels does not have
# exercise: output_bias
# hint: error
# message: a list where an array is expected: convert with np.asarray(...)
# costs: 2
def output_bias(y, K):
    counts = np.bincount(y, minlength=K)
    return np.log(counts / y.size)
