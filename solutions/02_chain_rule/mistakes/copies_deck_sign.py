# story: copies deck 001's table, where the local derivative of xi_4 = 1/xi_3 lost its minus sign
# exercise: logistic_chain
# hint: known-mistake
def logistic_chain(W, X, y):
    xi1 = -W * X;          d1 = -X
    xi2 = math.exp(xi1);   d2 = math.exp(xi1)
    xi3 = 1 + xi2;         d3 = 1.0
    xi4 = 1 / xi3;         d4 = (1 / xi3) ** 2
    xi5 = math.log(xi4);   d5 = 1 / xi4
    LA = -y * xi5;         d6 = -y
    return np.array([xi1, xi2, xi3, xi4, xi5, LA], dtype=float), np.array([d1, d2, d3, d4, d5, d6], dtype=float)
