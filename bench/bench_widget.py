"""Benchmark: the optimizer playground's controls, input to pixels, against a naive redraw.

Server side (no browser): each control of ``gradlab.widgets.Playground`` on its live canvas,
timed from the value change to the frame the browser receives (the whole-frame PNG the canvas
sends, caught where ipympl would send it):

  slider      the learning-rate slider swept back and forth (moving artists repainted over the
              cached layers);
  optimizer   the optimizer menu cycled (the phase diagram's layer repainted);
  surface     the surface menu cycled (the frame drawn in full: contours, axes);
  optimum     "use η*, β*" after a slider move away from it;
  naive       what an ``interact``-style callback does for a slider move: close the figure,
              build a new one (contours, trajectory, loss curve, phase diagram), draw it all,
              encode the full PNG.  Same numbers: the same model functions compute them.

One BLAS thread, the kinds interleaved so machine noise hits them alike; before timing, the
playground and the naive redraw are checked to draw the same trajectory.

Browser (if Playwright and /usr/bin/chromium are present; see tests/browser/harness.py):
JupyterLab on loopback runs the playground notebook; the time from the input (a key press on
the slider, a menu choice, Enter on the button) to the first animation frame whose canvas
pixels differ is read in the page, and the kernel's own update times beside it.

Targets: slider p95 <= 25 ms server side and <= 150 ms input to pixels; menus <= 300 ms input
to pixels.  Nothing is asserted about timings; the numbers are printed with the load average.

Run:  python bench/bench_widget.py [--quick] [--no-browser]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time
from pathlib import Path

os.environ["MPLBACKEND"] = "webagg"        # pyplot's canvas for the naive redraw

import matplotlib  # noqa: E402

matplotlib.use("webagg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from gradlab import optim  # noqa: E402
from gradlab import playground as model  # noqa: E402
from gradlab.widgets import LR_RANGE, MOMENTUM_MAX, Playground  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MOMENTUM, STEPS = 0.9, 100
OPTIMIZERS = ["momentum", "nesterov", "sgd", "adam", "momentum_velocity", "rmsprop"]
SURFACES = ["rosenbrock", "quadratic", "saddle", "regression"]


def drag(n):
    """Slider values of a drag: η swept 0.01 -> 0.2 -> 0.01."""
    half = np.geomspace(0.01, 0.2, max(n // 2, 2))
    return np.round(np.concatenate([half, half[::-1]])[:n], 6)


# ---------------------------------------------------------------------------------------------
# server side
# ---------------------------------------------------------------------------------------------

class Live:
    """The playground with a front end attached: every frame it sends is caught."""

    def __init__(self):
        self.pg = Playground(lr=0.05, momentum=MOMENTUM, steps=STEPS)
        canvas = self.pg.fig.canvas
        self.frames = []
        canvas.send_binary = self.frames.append
        canvas._handle_message(canvas, {"type": "initialized"}, [])
        canvas.draw()

    def timed(self, change):
        """Seconds from ``change()`` to the frame sent (None when no frame was sent)."""
        sent = len(self.frames)
        t = time.perf_counter()
        change()
        return time.perf_counter() - t if len(self.frames) > sent else None

    def trajectory(self):
        return np.column_stack(self.pg.line_ref.get_data())


class Naive:
    """Re-create the whole figure on every change (the same content as the playground)."""

    def __init__(self):
        self.fig = None
        self.surface = model.make_surface("quadratic", 10.0)
        self.lam = model.hessian_eigenvalues(self.surface)

    def update(self, lr):
        if self.fig is not None:
            plt.close(self.fig)
        s = self.surface
        fig = self.fig = plt.figure(figsize=(10, 3.4))
        ax, lx, px = fig.subplots(1, 3)
        T1, T2, L = s.grid(120)
        ax.contour(T1, T2, L, levels=s.f_min + np.geomspace(1e-3, 1.0, 14) * (L.max() - s.f_min),
                   cmap="Greys_r", linewidths=0.7)
        traj = self.traj = model.trajectory(s, optim.momentum, s.start, STEPS, lr=lr,
                                            beta=MOMENTUM)
        ax.plot(traj.points[:, 0], traj.points[:, 1], "-o", color="C3", ms=2.5)
        lx.semilogy(np.maximum(traj.losses - s.f_min, 1e-16), color="C3")
        lrs = np.logspace(LR_RANGE[0], LR_RANGE[1], 160)
        moms = np.linspace(0, MOMENTUM_MAX, 100)
        LR, MOM = np.meshgrid(lrs, moms)
        rho = model.predicted_rate(LR, MOM, self.lam)
        px.pcolormesh(lrs, moms, np.minimum(rho, 1.0), shading="nearest", cmap="viridis_r")
        px.set_xscale("log")
        px.plot([lr], [MOMENTUM], "o", color="red")
        px.set_title(f"predicted ρ = {float(model.predicted_rate(lr, MOMENTUM, self.lam)):.3f}, "
                     f"measured {model.measured_rate(traj, s.minimum):.3f}", fontsize=8)
        fig.canvas.draw()
        fig.canvas._png_is_old = True
        fig.canvas._force_full = True
        return fig.canvas.get_diff_image()


def server_side(n):
    live, naive = Live(), Naive()
    pg = live.pg
    for lr in (0.03, 0.15):                           # same setting, same trajectory
        pg.w_lr.value = lr
        naive.update(lr)
        if not np.array_equal(live.trajectory(), naive.traj.points):
            raise SystemExit(f"playground and naive redraw disagree on the trajectory at η={lr}")
    times = {k: [] for k in ("slider", "optimizer", "surface", "optimum", "naive")}
    lrs, methods, surfaces = iter(drag(n)), itertools.cycle(OPTIMIZERS), itertools.cycle(SURFACES)

    def set_(widget, value):
        return lambda: setattr(widget, "value", value)

    for i in range(n):
        times["slider"].append(live.timed(set_(pg.w_lr, next(lrs))))
        if i % 3 == 0:
            t = time.perf_counter()
            naive.update(pg.w_lr.value)
            times["naive"].append(time.perf_counter() - t)
        if i % 4 == 0:
            times["optimizer"].append(live.timed(set_(pg.w_optimizer, next(methods))))
        if i % 6 == 0:
            times["surface"].append(live.timed(set_(pg.w_surface, next(surfaces))))
        if i % 5 == 0 and pg.w_surface.value == "quadratic" and not pg.w_best.disabled:
            pg.w_lr.value = 0.01
            times["optimum"].append(live.timed(pg.use_optimal))
    plt.close("all")
    stats = {"full": pg.full_draws, "layers": pg.layer_draws, "blits": pg.blits}
    return {k: [t for t in v if t is not None] for k, v in times.items()}, stats


# ---------------------------------------------------------------------------------------------
# the browser
# ---------------------------------------------------------------------------------------------

# the input for a menu: the option chosen as the browser does on a user's choice, the clock
# started in the same task (a keyboard choice on a closed <select> differs between platforms)
CHOOSE_JS = """([selector, index]) => {
  const s = document.querySelectorAll(selector)[index[0]];
  window.__gradlab_t0 = performance.now();
  s.selectedIndex = index[1];
  s.dispatchEvent(new Event('change', {bubbles: true}));
}"""


def browser_side(moves):
    sys.path.insert(0, str(REPO / "tests"))
    from browser import harness

    problem = harness.browser_problem()
    if problem:
        return None, problem
    import tempfile
    root = Path(tempfile.mkdtemp(prefix="gradlab-bench-"))
    harness.write_playground_notebook(root)
    delays = {"slider": [], "optimizer": [], "surface": [], "optimum": []}
    kernel = {}
    with harness.jupyter_lab(root) as lab, harness.launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        errors = harness.watch_errors(page)
        harness.open_notebook(page, lab, "playground.ipynb")
        harness.run_all(page)
        harness.wait_for_text(page, "PLAYGROUND-STATUS")
        harness.wait_for_stable_canvas(page)
        selects = ".widget-dropdown select"                 # 0: optimizer, 1: surface
        options = {1: page.evaluate(f"() => document.querySelectorAll('{selects}')[1].length"),
                   0: page.evaluate(f"() => document.querySelectorAll('{selects}')[0].length")}

        def measure(kind, act):
            harness.watch_pixels(page)
            act()
            delays[kind].append(harness.pixels_changed(page))
            harness.wait_for_stable_canvas(page, quiet=0.25)

        def kernel_times(kind, since):
            status = harness.rerun_status(page)
            kernel[kind] = status["times"][since:]
            return len(status["times"])

        seen = len(harness.rerun_status(page)["times"])
        slider = harness.slider_handle(page, "learning rate")
        slider.focus()
        for i in range(moves + 2):                       # the first two warm up
            measure("slider", lambda: page.keyboard.press(
                "ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft"))
        delays["slider"] = delays["slider"][2:]
        seen = kernel_times("slider", seen + 2)
        for i in range(max(moves // 3, 4)):
            measure("optimizer", lambda: page.evaluate(
                CHOOSE_JS, [selects, [0, [3, 0, 6, 1][i % 4]]]))   # never the same twice
        seen = kernel_times("optimizer", seen)
        for i in range(max(moves // 4, 4)):
            measure("surface", lambda: page.evaluate(
                CHOOSE_JS, [selects, [1, (i + 1) % options[1]]]))
        seen = kernel_times("surface", seen)
        page.evaluate(CHOOSE_JS, [selects, [1, 0]])          # the quadratic again
        harness.wait_for_stable_canvas(page, quiet=0.5)
        button = page.locator("button", has_text="use η*")
        for i in range(max(moves // 4, 4)):
            slider.focus()
            page.keyboard.press("PageDown")                  # away from the optimum
            harness.wait_for_stable_canvas(page, quiet=0.25)
            seen = len(harness.rerun_status(page)["times"])
            button.focus()
            measure("optimum", lambda: page.keyboard.press("Enter"))
            kernel.setdefault("optimum", []).extend(harness.rerun_status(page)["times"][seen:])
        # a fast drag: many slider values sent back to back; the kernel coalesces them
        before = harness.rerun_status(page)
        harness.drag_handle(page, harness.slider_handle(page, "learning rate"), -120, 60)
        t = time.perf_counter()
        harness.wait_for_stable_canvas(page, quiet=0.5)
        settle = time.perf_counter() - t - 0.5
        after = harness.rerun_status(page)
        fast = {"moves": 60, "updates": int(after["updates"] - before["updates"]),
                "settle_ms": settle * 1e3}
        if errors or after["errors"]:
            return None, f"errors: page {errors[:3]}, kernel {after['errors']:.0f}"
    missing = {k: sum(d is None for d in v) for k, v in delays.items()}
    if any(missing.values()):
        return None, f"inputs that never changed the pixels: {missing}"
    return (delays, kernel, fast), None


# ---------------------------------------------------------------------------------------------

def pct(ms, q):
    return float(np.percentile(np.asarray(ms, dtype=float), q)) if len(ms) else float("nan")


def row(name, ms, target=None):
    mark = "" if target is None else ("  meets" if pct(ms, 95) <= target else "  misses") + \
        f" p95 <= {target}"
    print(f"{name:40} {pct(ms, 50):8.1f} {pct(ms, 95):8.1f} {len(ms):5d}{mark}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=60)
    parser.add_argument("--browser-moves", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.updates, args.browser_moves = 24, 12

    print("optimizer playground: its controls, quadratic κ = 10, momentum β = "
          f"{MOMENTUM}, {STEPS} steps, a 1000 × 340 pixel figure")
    print(f"python {platform.python_version()}, numpy {np.__version__}, matplotlib "
          f"{matplotlib.__version__}, 1 BLAS thread")
    print("load average before: {:.1f} {:.1f} {:.1f} on {} cores (other work on the machine "
          "slows every column alike)".format(*os.getloadavg(), os.cpu_count()))
    with threadpool_limits(1):
        times, stats = server_side(args.updates)
    ms = {k: np.asarray(v) * 1e3 for k, v in times.items()}
    print()
    print(f"{'server side, ms to the frame sent':40} {'p50':>8} {'p95':>8} {'n':>5}")
    print("-" * 64)
    row("slider (η)", ms["slider"], 25)
    row("optimizer menu", ms["optimizer"])
    row("surface menu", ms["surface"])
    row("use η*, β*", ms["optimum"])
    row("naive redraw (a slider move)", ms["naive"])
    print(f"{'naive / slider at p50':40} {pct(ms['naive'], 50) / pct(ms['slider'], 50):8.1f}x")
    print(f"(playground: {stats['blits']} repaints over cached layers, {stats['layers']} method "
          f"layers, {stats['full']} full draws; both versions drew the same trajectory)")

    if args.no_browser:
        result, why = None, "--no-browser"
    else:
        result, why = browser_side(args.browser_moves)
    print()
    if result is None:
        print(f"browser input-to-pixels: not measured ({why})")
        return 0
    delays, kernel, fast = result
    print("load average after the browser run: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    print(f"{'browser: input -> changed pixels, ms':40} {'p50':>8} {'p95':>8} {'n':>5}")
    print("-" * 64)
    row("slider key press", delays["slider"], 150)
    row("optimizer menu", delays["optimizer"], 300)
    row("surface menu", delays["surface"], 300)
    row("use η*, β* (Enter)", delays["optimum"])
    print(f"{'  in the kernel, ms per update':40}")
    for kind in ("slider", "optimizer", "surface", "optimum"):
        row(f"    {kind}", kernel.get(kind, []), 25 if kind == "slider" else None)
    print(f"a fast mouse drag ({fast['moves']} moves back to back): {fast['updates']} kernel "
          f"updates (coalesced), figure settled {fast['settle_ms']:.0f} ms after the mouse "
          "was released (± 0.1 s polling)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
