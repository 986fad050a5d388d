# story: accumulates reverse mode in the array it was given, overwriting the caller's local derivatives
# exercise: chain_modes
# hint: mutation
def chain_modes(local):
    tangents = []
    tangent = 1.0
    for d in local:
        tangent = tangent * d
        tangents.append(tangent)
    grads = local                      # no copy: the products below overwrite the argument
    for k in range(len(local) - 2, -1, -1):
        grads[k] = grads[k] * grads[k + 1]
    return np.array(tangents, dtype=float), np.array(grads, dtype=float)
