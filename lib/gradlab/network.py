"""A multilayer perceptron whose backward pass is the four backpropagation equations.

Mirrors the backpropagation sections of deck 000 (BP1-BP4 with the Hadamard product, backprop
inside mini-batch SGD) and deck 004 (layers l = 1..L, w^l_kj, b^l_k, z^l_k, a^l_k,
delta^l_j = dC/dz^l_j, base case and induction step), the worked networks of deck 002 (two
layers, tanh, linear outputs, half-SSE) and deck 003 (R^3 -> R^2, sigmoid units, MSE), and the
vanishing-gradient discussion of decks 000, 002 and 004 (every layer's delta can be returned).

Notation (deck 004, written for a whole mini-batch at once)::

    a^0 = X                                   (N, m_0)    the inputs, one example per row
    z^l = a^(l-1) W^l + b^l                   (N, m_l)    l = 1..L
    a^l = sigma(z^l)          for l < L                   hidden activation from the registry
    a^L = sigma_out(z^L)                                  identity unless ``output_activation``
    C   = loss(a^L, y)                                    from gradlab.losses

``W^l`` is ``net.W[l-1]`` with shape (m_(l-1), m_l), so ``W^l[j, k]`` is deck 004's w^l_kj
(edge from node j of layer l-1 to node k of layer l): our row-batch convention transposes the
decks' matrices, and deck 000's (w^(l+1))^T delta^(l+1) becomes ``delta @ W.T``.

The backward pass, one line per equation (deck 000 numbering; delta^l = dC/dz^l, (N, m_l))::

    BP1  delta^L = nabla_a C  (.)  sigma_out'(z^L)
    BP2  delta^l = (delta^(l+1) (W^(l+1))^T)  (.)  sigma'(z^l)
    BP3  dC/db^l = sum_n delta^l_n
    BP4  dC/dW^l = (a^(l-1))^T delta^l          i.e. dC/dw^l_kj = sum_n a^(l-1)_nj delta^l_nk

The cost C is the loss of the whole mini-batch (e.g. the *average* cross-entropy), so each
delta row already carries the 1/N of the average and BP3/BP4 *sum* over the batch: this is
deck 000's "eta/m sum_x delta^(x,l) (a^(x,l-1))^T" with the 1/m moved into C.

Typical use::

    net = MLP([64, 32, 10], activation="relu", loss="softmax_cross_entropy", seed=0)
    history = net.fit(X, y, epochs=10, batch_size=32, optimizer="sgd", lr=0.1)
    loss, grads, deltas = net.loss_and_grads(X[:64], y[:64], return_deltas=True)
    [np.linalg.norm(d) for d in deltas]      # one number per layer: the vanishing-gradient plot
"""

from __future__ import annotations

import numpy as np

from gradlab import init, layers, optim
from gradlab.losses import LOSSES

__all__ = ["MLP"]


class MLP:
    """A fully connected network: hidden layers with one activation, then an output layer.

    Inputs:
    - sizes: ``[m_0, m_1, ..., m_L]``: input width, hidden widths, output width (L >= 1 layers).
    - activation: hidden-layer activation, a key of :data:`gradlab.activations.ACTIVATIONS`
      ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "identity") or a custom
      (forward, backward) pair.  Default "sigmoid", the unit of deck 003's worked network.
    - loss: a key of :data:`gradlab.losses.LOSSES` ("softmax_cross_entropy", "logistic_loss",
      "mse", "half_sse") or a function ``(outputs, targets) -> (loss, doutputs)``.
    - output_activation: activation of the output layer.  ``None`` (the default) means linear
      outputs a^L = z^L, as in deck 002; deck 003's network has sigmoid outputs ("sigmoid").
      The classification losses already contain their softmax / sigmoid, so keep ``None`` there.
    - seed: int seed or Generator (see :func:`gradlab.init.as_rng`) for the initial weights
      and then the shuffles of :meth:`fit`.
    - weight_init: how W^l (m_(l-1) x m_l) is drawn.  ``"auto"``: deck 001's two recipes with
      m = fan-in, He et al. (2015) N(0, 2/m) for the ReLU family (relu, leaky_relu, elu),
      Xavier N(0, 1/m) otherwise (LeCun et al. 1998).  Any other name is looked up in
      :data:`gradlab.init.INITIALIZERS` ("xavier", "he", "glorot_uniform", "normal",
      "zeros"); a callable ``f(m, n, rng=generator) -> (m, n) array`` draws W^l itself.
      Biases start at 0.
    - activation_params: hyperparameters of the hidden activation, e.g. ``{"slope": 0.1}``
      for leaky ReLU.

    Attributes:
    - W, b: lists of arrays; ``W[l - 1]`` is W^l (m_(l-1), m_l) and ``b[l - 1]`` is b^l
      (m_l,).  They may be replaced or edited in place, e.g. to set the weights of a worked
      example.
    - rng: the numpy Generator that drew the initial weights; :meth:`fit` draws its shuffles
      from it.
    - optimizer: a :class:`gradlab.optim.Optimizer`, the update rule, its hyperparameters and
      every parameter's state (keys "W1", "b1", "W2", ...); plain SGD until :meth:`step` or
      :meth:`fit` is given another.
    """

    def __init__(self, sizes, activation="sigmoid", loss="softmax_cross_entropy",
                 output_activation=None, seed=0, weight_init="auto", activation_params=None):
        sizes = [int(m) for m in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least an input and an output width, all >= 1; "
                             f"got {sizes}")
        self.sizes = sizes
        self.activation = activation
        self.activation_params = dict(activation_params or {})
        self.output_activation = output_activation
        layers.activation_pair(activation)                  # an unknown name fails here, not later
        if output_activation is not None:
            layers.activation_pair(output_activation)
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "custom")
        if isinstance(loss, str):
            try:
                self._loss = LOSSES[loss]
            except KeyError:
                raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(LOSSES)}") from None
        else:
            self._loss = loss

        self.rng = init.as_rng(seed)
        if weight_init == "auto":
            # deck 001: He N(0, 2/m) for ReLU-type units, Xavier N(0, 1/m) for sigmoid/tanh
            relu_family = activation in ("relu", "leaky_relu", "elu")
            draw = init.he if relu_family else init.xavier
        elif isinstance(weight_init, str):
            try:
                draw = init.INITIALIZERS[weight_init]
            except KeyError:
                raise ValueError(f"unknown weight_init {weight_init!r}; choose 'auto' or one of "
                                 f"{sorted(init.INITIALIZERS)}") from None
        else:
            draw = weight_init
        self.W, self.b = [], []
        for m, n in zip(sizes[:-1], sizes[1:]):
            W = np.array(draw(m, n, rng=self.rng), dtype=float)  # W^l: (m_(l-1), m_l)
            if W.shape != (m, n):
                raise ValueError(f"weight_init returned shape {W.shape}, expected {(m, n)}")
            self.W.append(W)
            self.b.append(np.zeros(n))                           # b^l = 0
        self.optimizer = optim.Optimizer("sgd")          # owns every parameter's optimizer state
        self._keys = [(f"W{l}", f"b{l}") for l in range(1, len(sizes))]   # its keys, layer l = 1..L

    # -----------------------------------------------------------------------------------------
    # forward
    # -----------------------------------------------------------------------------------------

    @property
    def n_layers(self):
        """L, the number of weight layers (hidden layers + the output layer)."""
        return len(self.W)

    def _forward(self, X):
        """The forward pass, layer by layer, keeping what the backward pass needs.

        Returns:
        - a^L: (N, m_L) outputs
        - caches: per layer l, (affine cache (a^(l-1), W^l), activation cache or None)
        """
        L = len(self.W)
        a, caches = X, []
        for l, (W, b) in enumerate(zip(self.W, self.b), start=1):
            z, affine_cache = layers.affine_forward(a, W, b)    # z^l = a^(l-1) W^l + b^l
            if l < L:                                           # a^l = sigma(z^l)
                a, act_cache = layers.activation_forward(z, self.activation, **self.activation_params)
            elif self.output_activation is not None:            # a^L = sigma_out(z^L)
                a, act_cache = layers.activation_forward(z, self.output_activation)
            else:
                a, act_cache = z, None                          # linear outputs a^L = z^L
            caches.append((affine_cache, act_cache))
        return a, caches

    def forward(self, X):
        """The network's outputs a^L for inputs X.

        Inputs:
        - X: (N, m_0)

        Returns:
        - (N, m_L) outputs: raw scores for the classification losses, predictions
          for the regression losses (after ``output_activation`` if one is set)
        """
        return self._forward(X)[0]

    def predict(self, X):
        """Class labels for the classification losses, else the outputs of :meth:`forward`.

        softmax cross-entropy: argmax of the scores, (N,) int; logistic loss: 1 where the
        score is > 0 (p > 1/2), (N,) int; mse / half-SSE: the (N, m_L) outputs.
        """
        out = self.forward(X)
        if self.loss_name == "softmax_cross_entropy":
            return out.argmax(axis=1)
        if self.loss_name == "logistic_loss":
            return (out.reshape(out.shape[0]) > 0).astype(int)
        return out

    def accuracy(self, X, y):
        """Fraction of examples whose predicted class equals the label (classification)."""
        return float(np.mean(self.predict(X) == np.reshape(y, -1)))

    def loss(self, X, y):
        """The cost C of the batch (X, y), without gradients."""
        return self._loss(self.forward(X), y)[0]

    # -----------------------------------------------------------------------------------------
    # backward: BP1-BP4
    # -----------------------------------------------------------------------------------------

    def _backprop(self, X, y, input_grad=False):
        """Forward pass, then BP1-BP4 from layer L down to layer 1.

        Returns loss, grads, deltas as in :meth:`loss_and_grads`, and dC/dX (N, m_0) if
        ``input_grad`` (else None).
        """
        out, caches = self._forward(X)
        loss, da = self._loss(out, y)                           # C and nabla_a C = dC/da^L
        L = len(self.W)
        grads, deltas = [None] * L, [None] * L
        for l in range(L - 1, -1, -1):                          # list index l holds layer l + 1
            affine_cache, act_cache = caches[l]
            # BP1 (top layer):  delta^L = nabla_a C (.) sigma_out'(z^L)   (sigma_out' = 1 if linear)
            # BP2 (below):      delta^l = (delta^(l+1) (W^(l+1))^T) (.) sigma'(z^l)
            delta = da if act_cache is None else layers.activation_backward(da, act_cache)
            deltas[l] = delta
            # BP4: dC/dW^l = (a^(l-1))^T delta^l ;  BP3: dC/db^l = sum over the batch of delta^l ;
            # and BP2's weight product delta^l (W^l)^T = dC/da^(l-1) for the layer below
            da, dW, db = layers.affine_backward(delta, affine_cache, input_grad=l > 0 or input_grad)
            grads[l] = (dW, db)
        return loss, grads, deltas, da

    def loss_and_grads(self, X, y, return_deltas=False):
        """Cost of the batch and its gradient with respect to every W^l and b^l.

        Inputs:
        - X: (N, m_0) inputs
        - y: targets in the form the loss expects ((N,) int labels, or (N, m_L) values)
        - return_deltas: also return every layer's delta^l = dC/dz^l

        Returns:
        - loss: float, the cost C
        - grads: list of L pairs (dW^l (m_(l-1), m_l), db^l (m_l,)), l = 1..L
        - deltas: (only if return_deltas) list of L arrays delta^l, each (N, m_l)
        """
        loss, grads, deltas, _ = self._backprop(X, y)
        if return_deltas:
            return loss, grads, deltas
        return loss, grads

    def input_gradient(self, X, y):
        """dC/dX, the gradient with respect to the inputs (deck 001's nabla y through a chain).

        Returns (N, m_0): delta^1 (W^1)^T, one more application of BP2's weight product.
        """
        return self._backprop(X, y, input_grad=True)[3]

    # -----------------------------------------------------------------------------------------
    # training
    # -----------------------------------------------------------------------------------------

    def _use_optimizer(self, optimizer, hyper):
        """Make ``optimizer`` (None, an Optimizer, a name or an update function) the network's."""
        if optimizer is None or isinstance(optimizer, optim.Optimizer):
            if optimizer is not None:
                self.optimizer = optimizer
            self.optimizer.hyper.update(hyper)               # a live change: state is kept
        else:
            # another method starts afresh, a partial of the same one keeps its state
            self.optimizer.update = optimizer
            self.optimizer.hyper.clear()                      # the same dict, so views of it stay live
            self.optimizer.hyper.update(hyper)

    def step(self, X, y, optimizer=None, **hyper):
        """One training step on the mini-batch (X, y): backprop, then one optimizer update.

        ``optimizer`` says how to update, and every parameter's state lives in
        ``self.optimizer`` (a :class:`gradlab.optim.Optimizer`) across calls:

        - ``None`` (the default): use ``self.optimizer`` (plain SGD until told otherwise);
          ``hyper`` given here change its hyperparameters (e.g. ``lr=0.01``), state is kept.
        - an :class:`~gradlab.optim.Optimizer`: it becomes ``self.optimizer``, with its own
          state; ``hyper`` are added to its ``hyper`` as above.  Give each network its own
          (the keys "W1", "b1", ... would collide).
        - a key of :data:`gradlab.optim.OPTIMIZERS` or a function ``update(w, dw, state=None,
          **hyper) -> (next_w, state)``: ``self.optimizer`` takes it as its rule and ``hyper``
          as all its hyperparameters.  The same method (that function, or a
          ``functools.partial`` of it, rebuilt every step) keeps the state and step count and
          continues the run; another method starts afresh (see :class:`gradlab.optim.Optimizer`).

        Returns the mini-batch cost *before* the update.
        """
        self._use_optimizer(optimizer, hyper)
        loss, grads = self.loss_and_grads(X, y)
        opt, W, b = self.optimizer, self.W, self.b
        for l, ((dW, db), (kW, kb)) in enumerate(zip(grads, self._keys)):
            W[l] = opt.step(kW, W[l], dW)
            b[l] = opt.step(kb, b[l], db)
        return loss

    def fit(self, X, y, epochs=10, batch_size=32, optimizer=None, shuffle=True,
            X_val=None, y_val=None, callback=None, **hyper):
        """Mini-batch training for a number of epochs (deck 004: an epoch is one pass over the data).

        Each epoch visits the examples once, in an order drawn from the network's seeded
        generator when ``shuffle`` is true, in batches of ``batch_size`` (the last one may be
        smaller), calling :meth:`step` on each.

        Inputs:
        - X, y: training inputs (N, m_0) and targets
        - epochs: number of passes over the data
        - batch_size: examples per step (deck 000: commonly 50-256; 32 is our default)
        - optimizer, hyper: as in :meth:`step`, e.g. ``optimizer="adam", lr=1e-3``; a
          hyperparameter may be any schedule of :mod:`gradlab.optim` (called
          with the step count); one with an ``observe`` method, such as
          ``optim.plateau_lr(...)``, is told each epoch's training loss
        - X_val, y_val: optional held-out data, evaluated after every epoch
        - callback: optional ``f(epoch, net, history)`` called after every epoch

        Returns:
        - history: dict of lists: "loss" (mean batch cost per epoch, weighted by batch
          size), "batch_loss" (every step's cost) and, with validation data,
          "val_loss"
        """
        X = np.asarray(X, dtype=float)
        y = np.asarray(y)
        N = X.shape[0]
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        history = {"loss": [], "batch_loss": []}
        if X_val is not None:
            history["val_loss"] = []
        self._use_optimizer(optimizer, hyper)
        for epoch in range(epochs):
            order = self.rng.permutation(N) if shuffle else np.arange(N)
            total = 0.0
            for start in range(0, N, batch_size):
                idx = order[start:start + batch_size]
                batch_loss = self.step(X[idx], y[idx])
                history["batch_loss"].append(batch_loss)
                total += batch_loss * len(idx)
            history["loss"].append(total / N)
            for value in self.optimizer.hyper.values():
                if hasattr(value, "observe"):                   # e.g. a plateau schedule
                    value.observe(history["loss"][-1])
            if X_val is not None:
                history["val_loss"].append(self.loss(X_val, y_val))
            if callback is not None:
                callback(epoch, self, history)
        return history
