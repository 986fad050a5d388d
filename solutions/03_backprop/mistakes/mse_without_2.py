# story: drops the 2 of the derivative of the square
# exercise: mse
# hint: factor
# message: a missing factor 2, or an extra ½
def mse(pred, target):
    N = pred.shape[0]
    diff = pred - target
    return float(np.sum(diff * diff)) / N, diff / N
