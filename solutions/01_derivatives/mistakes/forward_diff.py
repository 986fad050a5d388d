# story: writes a forward difference where a central one is asked
# exercise: central_difference
# hint: known-mistake
def central_difference(f, x, h=1e-5):
    # one-sided: (f(x + h) - f(x)) / h
    return (f(x + h) - f(x)) / h
