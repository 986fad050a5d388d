# story: calls init_params with the layer sizes as three arguments instead of one list
# exercise: train_model
# hint: error
# message: a function called with other arguments than its def line takes: compare the call with the definition
def train_model(X_train, y_train, X_val, y_val, seed=0):
    """Train the capstone network on (X_train, y_train); return its prediction function.

    Inputs:
    - X_train: (N, 64) images, pixels in [0, 1]; y_train: (N,) int labels 0..9
    - X_val, y_val: a validation set of the same kind (for choosing and for learning curves)
    - seed: int, for the initialization and the shuffles

    Returns:
    - predict_fn: function (M, 64) images -> (M,) int labels, with predict_fn.history, a dict of
      per-epoch lists "train_loss", "train_accuracy", "val_accuracy"
    """
    hidden, epochs, batch_size, lr = 128, 8, 64, 1e-2     # chosen on the validation set
    X_train, y_train = np.asarray(X_train, dtype=float), np.asarray(y_train)
    X_fit, y_fit = shifted_copies(X_train, y_train)       # five times the data
    mean = X_fit.mean(axis=0)                             # feature normalization, training data only
    std = X_fit.std(axis=0)
    std = np.where(std > 0, std, 1.0)

    def normalize(X):
        return (np.asarray(X, dtype=float) - mean) / std

    X_fit, X_seen, X_check = normalize(X_fit), normalize(X_train), normalize(X_val)
    params, bn_state = init_params(X_fit.shape[1], hidden, 10)
    rng = np.random.default_rng(seed)
    opt_state = None
    history = {"train_loss": [], "train_accuracy": [], "val_accuracy": []}
    for epoch in range(epochs):
        eta = lr if epoch < 0.75 * epochs else lr / 10     # step decay for the last quarter
        order = rng.permutation(len(X_fit))
        batch_losses = []
        for start in range(0, len(X_fit), batch_size):
            batch = order[start:start + batch_size]
            loss, grads, bn_state = loss_and_grads(params, bn_state, X_fit[batch], y_fit[batch])
            params, opt_state = adam_update(params, grads, opt_state, lr=eta)
            batch_losses.append(loss)
        history["train_loss"].append(float(np.mean(batch_losses)))
        history["train_accuracy"].append(float(np.mean(predict(params, bn_state, X_seen) == y_train)))
        history["val_accuracy"].append(float(np.mean(predict(params, bn_state, X_check) == y_val)))

    def predict_fn(X):
        return predict(params, bn_state, normalize(X))

    predict_fn.history = history
    return predict_fn