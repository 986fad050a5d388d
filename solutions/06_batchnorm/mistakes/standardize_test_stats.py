# story: standardizes the test set with its own mean and standard deviation
# exercise: standardize
# hint: known-mistake
def standardize(X_train, X_test):
    def scaled(X):
        s = X.std(axis=0)
        return (X - X.mean(axis=0)) / np.where(s == 0, 1.0, s)
    return scaled(X_train), scaled(X_test)
