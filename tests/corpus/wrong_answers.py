"""Wrong answers written from the exercise statements alone, before the diagnosis code existed:
the measure of how often a failing test names the actual mistake (``test_corpus.py``).

Each entry: (exercise, what the student did, answer source, ``names``: a regular expression a
message that names this mistake matches).  A message whose diagnostic names a cause and does
not match ``names`` is misleading.
"""


AFFINE = """
def affine_forward(x, w, b):
    return x @ w + b, (x, w)

def affine_backward(dout, cache):
    x, w = cache
    dx = dout @ w.T
    dw = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
"""
RELU = """
def relu_forward(x):
    return np.maximum(x, 0.0), x

def relu_backward(dout, cache):
    x = cache
    return dout * (x > 0)
"""
SIGMOID = """
def sigmoid_forward(x):
    x = np.asarray(x, dtype=float)
    out = 1.0 / (1.0 + np.exp(-x))
    return out, out

def sigmoid_backward(dout, cache):
    s = cache
    return dout * s * (1.0 - s)
"""
TANH = """
def tanh_forward(x):
    out = np.tanh(np.asarray(x, dtype=float))
    return out, out

def tanh_backward(dout, cache):
    t = cache
    return dout * (1.0 - t * t)
"""
MSE = """
def mse(pred, target):
    N = pred.shape[0]
    diff = pred - target
    return float(np.sum(diff * diff)) / N, (2.0 / N) * diff
"""
SCE = """
def softmax_cross_entropy(scores, labels):
    N = scores.shape[0]
    rows = np.arange(N)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(log_p[rows, labels].sum()) / N
    dscores = np.exp(log_p)
    dscores[rows, labels] -= 1.0
    return loss, dscores / N
"""

CORPUS = [
    # ---- 04_optimizers ---------------------------------------------------------------------
    ("sgd", "adds the gradient (ascent)", r"sign|uphill|ascen|−1×|-1×|negat", '''
def sgd(w, dw, state=None, lr=1e-2):
    t = 0 if state is None else state.get("t", 0)
    return np.asarray(w, float) + lr * np.asarray(dw, float), {"t": t + 1}
'''),
    ("sgd", "forgets the learning rate", r"\blr\b|η|learning rate", '''
def sgd(w, dw, state=None, lr=1e-2):
    t = 0 if state is None else state.get("t", 0)
    return np.asarray(w, float) - np.asarray(dw, float), {"t": t + 1}
'''),
    ("sgd", "returns only next_w", r"pair|state|tuple|two values|2 values", '''
def sgd(w, dw, state=None, lr=1e-2):
    return np.asarray(w, float) - lr * np.asarray(dw, float)
'''),
    ("sgd", "subtracts lr * w (weight decay, not the gradient)", r"dw|gradient", '''
def sgd(w, dw, state=None, lr=1e-2):
    t = 0 if state is None else state.get("t", 0)
    return np.asarray(w, float) - lr * np.asarray(w, float), {"t": t + 1}
'''),
    ("momentum", "velocity not written back (returns the old v)", r"writ|store|sav|previous|old|state", '''
def momentum(w, dw, state=None, lr=1e-2, beta=0.9):
    w = np.asarray(w, float)
    v_old = np.zeros_like(w) if state is None else state["v"]
    v = beta * v_old + dw
    t = 0 if state is None else state.get("t", 0)
    return w - lr * v, {"t": t + 1, "v": v_old}
'''),
    ("momentum", "ignores the stored velocity (starts from 0 every call)", r"state|velocity|previous|ignor|stored", '''
def momentum(w, dw, state=None, lr=1e-2, beta=0.9):
    w = np.asarray(w, float)
    v = beta * np.zeros_like(w) + dw
    t = 0 if state is None else state.get("t", 0)
    return w - lr * v, {"t": t + 1, "v": v}
'''),
    ("momentum", "steps with the old velocity", r"old|previous|before|order|one step", '''
def momentum(w, dw, state=None, lr=1e-2, beta=0.9):
    w = np.asarray(w, float)
    v_old = np.zeros_like(w) if state is None else state["v"]
    v = beta * v_old + dw
    t = 0 if state is None else state.get("t", 0)
    return w - lr * v_old, {"t": t + 1, "v": v}
'''),
    ("momentum", "scales the gradient by (1 - beta) (EMA form)", r"1 ?- ?beta|1−β|1 - β|\(1 - beta\)|factor", '''
def momentum(w, dw, state=None, lr=1e-2, beta=0.9):
    w = np.asarray(w, float)
    v_old = np.zeros_like(w) if state is None else state["v"]
    v = beta * v_old + (1 - beta) * dw
    t = 0 if state is None else state.get("t", 0)
    return w - lr * v, {"t": t + 1, "v": v}
'''),
    ("momentum_velocity", "adds +lr*g into v (sign)", r"sign|uphill|−|minus", '''
def momentum_velocity(w, dw, state=None, lr=1e-2, alpha=0.9):
    w = np.asarray(w, float)
    v_old = np.zeros_like(w) if state is None else state["v"]
    v = alpha * v_old + lr * np.asarray(dw, float)
    t = 0 if state is None else state.get("t", 0)
    return w + v, {"t": t + 1, "v": v}
'''),
    ("momentum_velocity", "state without the step counter t", r"\bt\b|key|step count", '''
def momentum_velocity(w, dw, state=None, lr=1e-2, alpha=0.9):
    w = np.asarray(w, float)
    v_old = np.zeros_like(w) if state is None else state["v"]
    v = alpha * v_old - lr * np.asarray(dw, float)
    return w + v, {"v": v}
'''),
    ("nesterov", "plain momentum step (no look-ahead correction)", r"interim|look-ahead|alpha \(v|nesterov", '''
def nesterov(w, dw, state=None, lr=1e-2, alpha=0.9):
    w = np.asarray(w, float)
    v_old = np.zeros_like(w) if state is None else state["v"]
    v = alpha * v_old - lr * np.asarray(dw, float)
    t = 0 if state is None else state.get("t", 0)
    return w + v, {"t": t + 1, "v": v}
'''),
    ("adagrad", "r not accumulated (only this step's g²)", r"accumul|sum|state|previous|stored|r\b", '''
def adagrad(w, dw, state=None, lr=1e-2, eps=1e-7):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    r = dw * dw
    t = 0 if state is None else state.get("t", 0)
    return w - lr / (eps + np.sqrt(r)) * dw, {"t": t + 1, "r": r}
'''),
    ("adagrad", "stores sqrt(r) instead of r", r"sqrt|root|r\b|state", '''
def adagrad(w, dw, state=None, lr=1e-2, eps=1e-7):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    r = (np.zeros_like(w) if state is None else state["r"]) + dw * dw
    t = 0 if state is None else state.get("t", 0)
    return w - lr / (eps + np.sqrt(r)) * dw, {"t": t + 1, "r": np.sqrt(r)}
'''),
    ("rmsprop", "rho and 1 - rho swapped", r"rho|ρ|swap|weights", '''
def rmsprop(w, dw, state=None, lr=1e-3, rho=0.9, eps=1e-8):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    r_old = np.zeros_like(w) if state is None else state["r"]
    r = (1 - rho) * r_old + rho * dw * dw
    t = 0 if state is None else state.get("t", 0)
    return w - lr / (eps + np.sqrt(r)) * dw, {"t": t + 1, "r": r}
'''),
    ("rmsprop", "multiplies by sqrt(r) instead of dividing", r"divid|sqrt|root", '''
def rmsprop(w, dw, state=None, lr=1e-3, rho=0.9, eps=1e-8):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    r_old = np.zeros_like(w) if state is None else state["r"]
    r = rho * r_old + (1 - rho) * dw * dw
    t = 0 if state is None else state.get("t", 0)
    return w - lr * np.sqrt(r) * dw, {"t": t + 1, "r": r}
'''),
    ("adam", "t incremented after the bias correction (uses the old t)", r"\bt\b|step count|off by one|1 - beta", '''
def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    if state is None:
        state = {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
    t = state["t"]
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1 ** (t + 1e-12 if t == 0 else t))
    v_hat = v / (1 - beta2 ** (t + 1e-12 if t == 0 else t))
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), {"t": t + 1, "m": m, "v": v}
'''),
    ("adam", "stores the bias-corrected moments in the state", r"corrected|raw|m_hat|state|stor", '''
def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    if state is None:
        state = {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), {"t": t, "m": m_hat, "v": v_hat}
'''),
    ("adam", "corrects only the first moment", r"second|v\b|beta2", '''
def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    if state is None:
        state = {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1 ** t)
    return w - lr * m_hat / (np.sqrt(v) + eps), {"t": t, "m": m, "v": v}
'''),
    ("adam", "corrects only the second moment", r"first|m\b|beta1", '''
def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    if state is None:
        state = {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw * dw
    v_hat = v / (1 - beta2 ** t)
    return w - lr * m / (np.sqrt(v_hat) + eps), {"t": t, "m": m, "v": v}
'''),
    ("adam", "second moment of |g| instead of g² (no square)", r"square|g\*g|g²|dw \* dw|second", '''
def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    if state is None:
        state = {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * np.abs(dw)
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return w - lr * m_hat / (v_hat + eps), {"t": t, "m": m, "v": v}
'''),
    ("adam", "t never advanced", r"\bt\b|step count|advance", '''
def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    if state is None:
        state = {"t": 1, "m": np.zeros_like(w), "v": np.zeros_like(w)}
    t = state["t"]
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), {"t": t, "m": m, "v": v}
'''),
    ("adam", "starts from an empty state dict (KeyError)", r"line|raised|KeyError|'m'", '''
def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    state = state or {}
    t = state.get("t", 0) + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), {"t": t, "m": m, "v": v}
'''),
    ("adam", "eps inside the square root", r"eps|δ|sqrt|root", '''
def adam(w, dw, state=None, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    w, dw = np.asarray(w, float), np.asarray(dw, float)
    if state is None:
        state = {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * dw
    v = beta2 * state["v"] + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return w - lr * m_hat / np.sqrt(v_hat + eps), {"t": t, "m": m, "v": v}
'''),

    # ---- 03_backprop ------------------------------------------------------------------------
    ("affine", "dw transposed (dout.T @ x)", r"transpos", AFFINE.replace("dw = x.T @ dout", "dw = dout.T @ x")),
    ("affine", "db summed over the wrong axis", r"axis", AFFINE.replace("db = dout.sum(axis=0)", "db = dout.sum(axis=1)")),
    ("affine", "db is a mean over the batch", r"mean|1/N|N\b|batch", AFFINE.replace("db = dout.sum(axis=0)", "db = dout.mean(axis=0)")),
    ("affine", "dx without the upstream gradient", r"dout|upstream", AFFINE.replace("dx = dout @ w.T", "dx = np.ones_like(dout) @ w.T")),
    ("relu", "mask keeps x = 0", r"x = 0|x=0|>= ?0|≥ ?0|zero", RELU.replace("dout * (x > 0)", "dout * (x >= 0)")),
    ("relu", "returns the mask without dout", r"dout|upstream", RELU.replace("dout * (x > 0)", "(x > 0).astype(float)")),
    ("relu", "relu of dout", r"dout|mask", RELU.replace("dout * (x > 0)", "np.maximum(dout, 0)")),
    ("sigmoid", "σ′ taken at the output (cache is already σ(x))", r"output|σ′\(a\)|σ'\(a\)|cache|twice",
     SIGMOID.replace("s = cache", "s = 1 / (1 + np.exp(-cache))")),
    ("tanh", "1 - tanh instead of 1 - tanh²", r"square|tanh²|tanh\^2|t \* t|\*\*2", TANH.replace("1.0 - t * t)", "1.0 - t)")),
    ("tanh", "dout missing", r"dout|upstream", TANH.replace("dout * (1.0 - t * t)", "(1.0 - t * t)")),
    ("mse", "gradient without the 2", r"\b2\b|½|factor", MSE.replace("(2.0 / N) * diff", "diff / N")),
    ("mse", "loss and gradient summed, not averaged", r"\bN\b|mean|batch", MSE.replace("/ N, (2.0 / N) * diff", ", 2.0 * diff")),
    ("softmax_cross_entropy", "gradient not divided by N", r"\bN\b|mean|batch",
     SCE.replace("return loss, dscores / N", "return loss, dscores")),
    ("softmax_cross_entropy", "probabilities minus one everywhere (no one-hot)", r"label|one-hot|row|class",
     SCE.replace("dscores[rows, labels] -= 1.0", "dscores -= 1.0")),
]
