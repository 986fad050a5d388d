"""gradlab — the reference library of the gradlab course.

Plain NumPy, one module per topic of the lectures.  Import the module you need, e.g.
``from gradlab import calculus`` — the package itself imports nothing heavy, so a
notebook pays only for what it uses.

=============  ==========================================================
module         holds
=============  ==========================================================
calculus       difference quotients, numerical gradient, Jacobian, Hessian, gradient check
autodiff       a tiny reverse-mode scalar engine and forward-mode dual numbers
activations    sigmoid, tanh, ReLU, leaky ReLU, ELU as forward/backward pairs
layers         affine, activation, batch-norm, layer-norm and dropout layers with caches
losses         half-SSE, MSE, softmax cross-entropy, logistic loss
network        an MLP whose backward pass is BP1-BP4
optim          SGD, momentum, Nesterov, AdaGrad, RMSProp, Adam, AdamW, the L2 penalty, the
               Optimizer that owns their state, schedules, early stopping, the learning-rate
               range test, clipping, minimize
init           weight and bias initialisers (Xavier, He, Glorot ...)
landscapes     two-dimensional loss surfaces for drawing optimizer trajectories
data           small offline data sets (scikit-learn's digits, synthetic sets)
checks         what the notebook tests call: comparisons that explain a wrong answer
=============  ==========================================================
"""

__version__ = "0.1.0"

__all__ = [
    "activations", "autodiff", "calculus", "checks", "data", "init",
    "landscapes", "layers", "losses", "network", "optim",
]
