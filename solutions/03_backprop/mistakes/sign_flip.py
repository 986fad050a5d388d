# story: writes the output error as target minus prediction, t - y instead of deck 002's y - t
# exercise: half_sse
# hint: sign
def half_sse(pred, target):
    diff = target - pred
    return 0.5 * float(np.sum(diff * diff)), diff
