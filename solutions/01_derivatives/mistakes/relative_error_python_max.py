# story: uses Python's max on arrays: an error raised in their own line
# exercise: relative_error
# hint: error
# message: Python's max, min, `and`, `or` or `if` applied to an array: use np.maximum, np.minimum, &, | or np.all / np.any
def relative_error(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.abs(a), np.abs(b)))
