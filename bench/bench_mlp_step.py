"""Benchmark: one MLP training step -- gradlab vs straight-line NumPy vs PyTorch (CPU).

A training step is forward + backward + one SGD update on a mini-batch of scikit-learn's
bundled digits (64 pixels -> 10 classes), softmax cross-entropy, float64.  Three versions:

  numpy    the same step written out line by line in NumPy inside this file: the floor.
           Same formulas as gradlab (stable softmax, BP1-BP4, w <- w - lr dw), in-place updates.
  gradlab  ``MLP.step`` from gradlab.network with ``gradlab.optim.sgd``.
  torch    an equivalent ``nn.Sequential`` with ``torch.optim.SGD``, in float64; skipped with a
           message when PyTorch is not installed (it is not a dependency of gradlab).

Before timing, the three are run from the *same* initial weights on one batch and must agree
on the loss and on every gradient to 1e-10, and on the updated weights after one step.

Timing: every version runs single-threaded (BLAS through threadpoolctl, ``torch.set_num_threads
(1)``): at these sizes extra threads add synchronisation noise rather than speed, and it keeps
the comparison fair.  The versions are interleaved (numpy, gradlab, torch, numpy, ...) so that
machine noise hits all of them alike; each sample times ``--number`` consecutive steps with
``timeit`` and the table reports the median of ``--repeats`` samples, and the ratios of medians.
Target: gradlab / numpy <= 1.10.  Nothing is asserted about timings; the numbers are printed.

Run:  python bench/bench_mlp_step.py [--repeats 60] [--number 40] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import timeit
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from gradlab.data import digits
from gradlab.network import MLP

TOL = 1e-10
LR = 0.01       # small, so thousands of timed steps stay in a normal numeric range

# (name, sizes, activation, batch size); the first is the headline configuration
CONFIGS = [
    ("relu 64-128-64-10, batch 64", [64, 128, 64, 10], "relu", 64),
    ("sigmoid 64-128-64-10, batch 64", [64, 128, 64, 10], "sigmoid", 64),
    ("relu 64-128-64-10, batch 256", [64, 128, 64, 10], "relu", 256),
]


# ---------------------------------------------------------------------------------------------
# the floor: straight-line NumPy, written for exactly three weight layers
# ---------------------------------------------------------------------------------------------

def numpy_grads(params, x, y, relu):
    """Loss and gradients [dW1, db1, dW2, db2, dW3, db3] of the 3-layer MLP, line by line."""
    W1, b1, W2, b2, W3, b3 = params
    n = x.shape[0]
    rows = np.arange(n)
    z1 = x @ W1 + b1
    if relu:
        a1 = np.maximum(z1, 0.0)
        z2 = a1 @ W2 + b2
        a2 = np.maximum(z2, 0.0)
    else:                                                  # sigmoid, overflow-free
        e = np.exp(-np.abs(z1)); s = 1.0 / (1.0 + e); a1 = np.where(z1 >= 0, s, e * s)
        z2 = a1 @ W2 + b2
        e = np.exp(-np.abs(z2)); s = 1.0 / (1.0 + e); a2 = np.where(z2 >= 0, s, e * s)
    z3 = a2 @ W3 + b3
    shifted = z3 - z3.max(axis=1, keepdims=True)           # stable softmax cross-entropy
    ez = np.exp(shifted)
    sum_ez = ez.sum(axis=1, keepdims=True)
    loss = (np.log(sum_ez).sum() - shifted[rows, y].sum()) / n
    d3 = ez / sum_ez
    d3[rows, y] -= 1.0
    d3 /= n
    dW3 = a2.T @ d3
    db3 = d3.sum(axis=0)
    if relu:
        d2 = (d3 @ W3.T) * (z2 > 0)
        dW2 = a1.T @ d2
        db2 = d2.sum(axis=0)
        d1 = (d2 @ W2.T) * (z1 > 0)
    else:
        d2 = (d3 @ W3.T) * a2 * (1.0 - a2)
        dW2 = a1.T @ d2
        db2 = d2.sum(axis=0)
        d1 = (d2 @ W2.T) * a1 * (1.0 - a1)
    dW1 = x.T @ d1
    db1 = d1.sum(axis=0)
    return loss, [dW1, db1, dW2, db2, dW3, db3]


def make_numpy_step(params, activation, lr):
    """A closure doing one training step on (x, y), updating ``params`` in place."""
    relu = activation == "relu"

    def step(x, y):
        W1, b1, W2, b2, W3, b3 = params                   # updated in place below
        loss, (dW1, db1, dW2, db2, dW3, db3) = numpy_grads(params, x, y, relu)
        W1 -= lr * dW1; b1 -= lr * db1
        W2 -= lr * dW2; b2 -= lr * db2
        W3 -= lr * dW3; b3 -= lr * db3
        return loss

    return step


# ---------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------

def try_import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def make_torch_model(torch, params, activation):
    nn = torch.nn
    act = nn.ReLU if activation == "relu" else nn.Sigmoid
    model = nn.Sequential(nn.Linear(64, 128), act(), nn.Linear(128, 64), act(),
                          nn.Linear(64, 10)).double()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for lin, W, b in zip(linears, params[0::2], params[1::2]):
            lin.weight.copy_(torch.from_numpy(W.T.copy()))   # torch stores (out, in)
            lin.bias.copy_(torch.from_numpy(b))
    return model, linears


def torch_grads(torch, model, linears, x, y):
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    grads = []
    for lin in linears:
        grads += [lin.weight.grad.numpy().T, lin.bias.grad.numpy()]
    return float(loss.detach()), grads


def make_torch_step(torch, model, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    cross_entropy = torch.nn.functional.cross_entropy

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


# ---------------------------------------------------------------------------------------------
# equivalence, timing, report
# ---------------------------------------------------------------------------------------------

def check_equivalence(sizes, activation, batch, X, y, torch):
    """Same start, one batch: losses, gradients and one SGD update agree to TOL."""
    net = MLP(sizes, activation=activation, loss="softmax_cross_entropy", seed=0)
    start = [p.copy() for pair in zip(net.W, net.b) for p in pair]
    xb, yb = X[:batch], y[:batch]

    g_loss, g_grads = net.loss_and_grads(xb, yb)
    g_grads = [g for pair in g_grads for g in pair]
    n_loss, n_grads = numpy_grads(start, xb, yb, activation == "relu")
    results = {"numpy": (n_loss, n_grads)}
    if torch is not None:
        model, linears = make_torch_model(torch, start, activation)
        results["torch"] = torch_grads(torch, model, linears, torch.from_numpy(xb),
                                       torch.from_numpy(yb))
    for name, (loss, grads) in results.items():
        if abs(loss - g_loss) > TOL:
            raise AssertionError(f"{name} loss {loss!r} != gradlab loss {g_loss!r}")
        for k, (a, b) in enumerate(zip(grads, g_grads)):
            err = np.max(np.abs(a - b))
            if err > TOL:
                raise AssertionError(f"{name} gradient {k} differs from gradlab's by {err:.2e}")

    # one update each, then compare the weights
    net.step(xb, yb, optimizer="sgd", lr=LR)
    floor_params = [p.copy() for p in start]
    make_numpy_step(floor_params, activation, LR)(xb, yb)
    after = {"numpy": floor_params}
    if torch is not None:
        model, linears = make_torch_model(torch, start, activation)
        make_torch_step(torch, model, LR)(torch.from_numpy(xb), torch.from_numpy(yb))
        after["torch"] = [t.detach().numpy().T if t.ndim == 2 else t.detach().numpy()
                          for lin in linears for t in (lin.weight, lin.bias)]
    mine = [p for pair in zip(net.W, net.b) for p in pair]
    for name, params in after.items():
        err = max(np.max(np.abs(a - b)) for a, b in zip(params, mine))
        if err > TOL:
            raise AssertionError(f"{name} weights after one step differ from gradlab's by {err:.2e}")
    return len(results) + 1


def cycling(step, batches):
    """A zero-argument callable doing one step on the next batch, round robin."""
    state = {"i": 0}
    k = len(batches)

    def run():
        i = state["i"]
        x, y = batches[i]
        state["i"] = (i + 1) % k
        step(x, y)

    return run


def time_config(sizes, activation, batch, X, y, torch, repeats, number):
    n_batches = len(X) // batch
    np_batches = [(np.ascontiguousarray(X[i * batch:(i + 1) * batch]), y[i * batch:(i + 1) * batch].copy())
                  for i in range(n_batches)]
    runners = {}

    net = MLP(sizes, activation=activation, loss="softmax_cross_entropy", seed=0)
    start = [p.copy() for pair in zip(net.W, net.b) for p in pair]
    runners["numpy"] = cycling(make_numpy_step([p.copy() for p in start], activation, LR),
                               np_batches)
    runners["gradlab"] = cycling(lambda xb, yb: net.step(xb, yb, optimizer="sgd", lr=LR),
                                 np_batches)
    if torch is not None:
        model, _ = make_torch_model(torch, start, activation)
        t_batches = [(torch.from_numpy(xb), torch.from_numpy(yb)) for xb, yb in np_batches]
        runners["torch"] = cycling(make_torch_step(torch, model, LR), t_batches)

    for run in runners.values():                      # warm-up: caches, allocator, torch init
        for _ in range(3 * number):
            run()
    samples = {name: [] for name in runners}
    timers = {name: timeit.Timer(run) for name, run in runners.items()}
    for _ in range(repeats):
        for name, timer in timers.items():             # interleaved
            samples[name].append(timer.timeit(number) / number)
    return samples


def blas_threads():
    """Thread counts of the native thread pools loaded so far (NumPy's BLAS, torch's, OpenMP)."""
    pools = sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info()})
    return ", ".join(f"{api}={n}" for api, n in pools) or "none"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60, help="timing samples per version")
    parser.add_argument("--number", type=int, default=40, help="steps per timing sample")
    parser.add_argument("--quick", action="store_true", help="headline configuration only, fewer repeats")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 20)
    configs = CONFIGS[:1] if args.quick else CONFIGS

    X, y = digits()
    torch = try_import_torch()
    print("one MLP training step (forward + backward + SGD), digits, softmax cross-entropy, float64")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs; BLAS threads before limiting: {blas_threads()}")
    if torch is None:
        print("torch: not installed -- skipping the PyTorch column "
              "(pip install torch to add it; gradlab does not need it)")
    else:
        print(f"torch {torch.__version__}: default threads {torch.get_num_threads()}")

    results = []
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        print(f"threads while timing: BLAS {blas_threads()}"
              + (f", torch {torch.get_num_threads()}" if torch is not None else ""))
        print(f"each cell: median over {args.repeats} samples of {args.number} steps, interleaved")
        print()
        header = f"{'configuration':34} {'numpy ms':>9} {'gradlab ms':>11} {'torch ms':>9} " \
                 f"{'gradlab/numpy':>14} {'torch/numpy':>12}"
        print(header)
        print("-" * len(header))
        for title, sizes, activation, batch in configs:
            check_equivalence(sizes, activation, batch, X, y, torch)
            samples = time_config(sizes, activation, batch, X, y, torch, args.repeats, args.number)
            med = {k: statistics.median(v) for k, v in samples.items()}
            ratio = med["gradlab"] / med["numpy"]
            t_ratio = med["torch"] / med["numpy"] if "torch" in med else None
            print(f"{title:34} {med['numpy'] * 1e3:9.3f} {med['gradlab'] * 1e3:11.3f} "
                  + (f"{med['torch'] * 1e3:9.3f} " if "torch" in med else f"{'-':>9} ")
                  + f"{ratio:14.3f} " + (f"{t_ratio:12.3f}" if t_ratio is not None else f"{'-':>12}"))
            results.append({"configuration": title, "sizes": sizes, "activation": activation,
                            "batch": batch, "median_s": med,
                            "gradlab_over_numpy": ratio, "torch_over_numpy": t_ratio})
    print()
    print("all versions agreed on loss, gradients and the updated weights to 1e-10 before timing")
    head = results[0]["gradlab_over_numpy"]
    verdict = "within" if head <= 1.10 else "OVER"
    print(f"headline gradlab/numpy = {head:.3f}: {verdict} the 1.10 target")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
