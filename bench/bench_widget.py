"""Benchmark: one slider move in the optimizer playground -- update in place vs a naive redraw.

Server side (no browser): a learning-rate "drag" (the slider swept back and forth) is applied
to

  playground  ``gradlab.widgets.Playground``: recompute the trajectory and theory, move the
              existing artists with ``set_data``, blit the moving ones onto the cached
              background (a full draw only when the frame changes), then encode the PNG the
              browser receives (``get_diff_image``, what ipympl sends: only changed pixels).
  naive       what an ``interact``-style callback does: close the figure and build a new one
              (contours, trajectory, loss curve, phase diagram), draw it all and encode the full
              PNG.  Same numbers on it: the same model functions compute them.

Both run on matplotlib's WebAgg canvas (the class ipympl's canvas extends), one BLAS thread,
interleaved so machine noise hits both alike; each sample is one slider value, wall-clock from
the value change to the encoded image.  Before timing, the two are checked to draw the same
trajectory for the same setting.

Browser (if Playwright and /usr/bin/chromium are present; see tests/browser/harness.py):
JupyterLab on loopback runs the playground notebook; the learning-rate slider is moved with
the keyboard and the time from the keydown to the first animation frame whose canvas pixels
differ is read in the page.

Targets: server-side p95 <= 25 ms, input-to-pixels p95 <= 150 ms, naive / playground >= 3 at
p50.  Nothing is asserted about timings; the numbers are printed.

Run:  python bench/bench_widget.py [--updates 60] [--browser-moves 30] [--quick] [--no-browser]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ["MPLBACKEND"] = "webagg"        # the WebAgg canvas, whose server side ipympl reuses

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


def drag(n):
    """Slider values of a drag: η swept 0.01 -> 0.2 -> 0.01 on the log slider's grid."""
    half = np.geomspace(0.01, 0.2, max(n // 2, 2))
    return np.round(np.concatenate([half, half[::-1]])[:n], 6)


# ---------------------------------------------------------------------------------------------
# the two versions
# ---------------------------------------------------------------------------------------------

class InPlace:
    def __init__(self):
        self.pg = Playground(lr=0.05, momentum=MOMENTUM, steps=STEPS)
        self.canvas = self.pg.fig.canvas
        self.canvas.draw()
        self.canvas.get_diff_image()
        self.parts = []

    def update(self, lr):
        full = self.pg.full_draws
        t0 = time.perf_counter()
        self.pg.w_lr.value = lr
        if self.pg.full_draws != full:      # draw_idle asked the front end for a full draw
            self.canvas.draw()
        t1 = time.perf_counter()
        image = self.canvas.get_diff_image()
        self.parts.append((t1 - t0, time.perf_counter() - t1))
        return image

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
        fig = self.fig = plt.figure(figsize=(11, 3.6))
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

    def trajectory(self):
        return self.traj.points


def server_side(updates, naive_updates):
    inplace, naive = InPlace(), Naive()
    # same setting, same trajectory
    for lr in (0.03, 0.15):
        inplace.update(lr)
        naive.update(lr)
        if not np.array_equal(inplace.trajectory(), naive.trajectory()):
            raise SystemExit(f"playground and naive redraw disagree on the trajectory at η={lr}")
    times = {"playground": [], "naive": []}
    values = drag(updates)
    every = max(1, updates // naive_updates)
    for i, lr in enumerate(values):
        t = time.perf_counter()
        inplace.update(lr)
        times["playground"].append(time.perf_counter() - t)
        if i % every == 0 and len(times["naive"]) < naive_updates:
            t = time.perf_counter()
            naive.update(lr)
            times["naive"].append(time.perf_counter() - t)
    parts = np.array(inplace.parts[-len(values):])
    times["  recompute + artists + blit"] = list(parts[:, 0])
    times["  diff PNG for the browser"] = list(parts[:, 1])
    stats = {"full_draws": inplace.pg.full_draws, "blits": inplace.pg.blits}
    plt.close("all")
    return times, stats


# ---------------------------------------------------------------------------------------------
# the browser
# ---------------------------------------------------------------------------------------------

def browser_side(moves):
    sys.path.insert(0, str(REPO / "tests"))
    from browser import harness

    problem = harness.browser_problem()
    if problem:
        return None, problem
    import tempfile
    root = Path(tempfile.mkdtemp(prefix="gradlab-bench-"))
    harness.write_playground_notebook(root)
    delays = []
    with harness.jupyter_lab(root) as lab, harness.launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        errors = harness.watch_errors(page)
        harness.open_notebook(page, lab, "playground.ipynb")
        harness.run_all(page)
        harness.wait_for_text(page, "PLAYGROUND-STATUS")
        harness.wait_for_stable_canvas(page)
        harness.slider_handle(page, "learning rate").focus()
        for i in range(moves + 2):                      # the first two warm up, not counted
            harness.watch_pixels(page)
            page.keyboard.press("ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft")
            ms = harness.pixels_changed(page)
            if i >= 2:
                delays.append(ms)
            harness.wait_for_stable_canvas(page, quiet=0.25)
        # a fast drag: many slider values sent back to back; the kernel coalesces them
        before = harness.rerun_status(page)
        harness.wait_for_stable_canvas(page, quiet=0.25)
        harness.drag_handle(page, harness.slider_handle(page, "learning rate"), -120, 60)
        t = time.perf_counter()
        harness.wait_for_stable_canvas(page, quiet=0.5)
        settle = time.perf_counter() - t - 0.5
        after = harness.rerun_status(page)
        drag = {"moves": 60, "updates": int(after["updates"] - before["updates"]),
                "settle_ms": settle * 1e3, "kernel_p50": before["p50"],
                "kernel_p95": before["p95"]}
        if errors or after["errors"]:
            return None, f"errors: page {errors[:3]}, kernel {after['errors']:.0f}"
    missing = sum(d is None for d in delays)
    if missing:
        return None, f"{missing} of {len(delays)} moves never changed the pixels"
    return (np.array(delays) / 1e3, drag), None


# ---------------------------------------------------------------------------------------------

def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1e3, q))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=80)
    parser.add_argument("--naive-updates", type=int, default=30)
    parser.add_argument("--browser-moves", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.updates, args.naive_updates, args.browser_moves = 30, 10, 12

    print("optimizer playground: one learning-rate slider move, quadratic κ = 10, momentum "
          f"β = {MOMENTUM}, {STEPS} steps")
    print(f"python {platform.python_version()}, numpy {np.__version__}, matplotlib "
          f"{matplotlib.__version__}, canvas {type(plt.figure().canvas).__name__}, "
          f"1 BLAS thread")
    print("load average before: {:.1f} {:.1f} {:.1f} on {} cores (other work on the machine "
          "slows every column alike)".format(*os.getloadavg(), os.cpu_count()))
    plt.close("all")
    with threadpool_limits(1):
        times, stats = server_side(args.updates, args.naive_updates)
    p = {k: (pct(v, 50), pct(v, 95)) for k, v in times.items()}
    print()
    print(f"{'server side, ms per update':34} {'p50':>8} {'p95':>8} {'n':>5}")
    print("-" * 58)
    for name in ("playground", "  recompute + artists + blit", "  diff PNG for the browser",
                 "naive"):
        print(f"{name:34} {p[name][0]:8.1f} {p[name][1]:8.1f} {len(times[name]):5d}")
    speed50 = p["naive"][0] / p["playground"][0]
    speed95 = p["naive"][1] / p["playground"][1]
    print(f"{'naive / playground':34} {speed50:8.1f}x {speed95:7.1f}x")
    print(f"(playground: {stats['blits']} blitted updates, {stats['full_draws']} full draws; "
          "both versions drew the same trajectory before timing)")

    if args.no_browser:
        browser, why = None, "--no-browser"
    else:
        browser, why = browser_side(args.browser_moves)
        if browser is not None:
            browser, drag = browser
    print()
    if browser is None:
        print(f"browser input-to-pixels: not measured ({why})")
    else:
        print(f"{'browser, slider keydown -> pixels':34} {pct(browser, 50):8.1f} "
              f"{pct(browser, 95):8.1f} {len(browser):5d}")
        print(f"{'  in the kernel (ipympl, PNG sent)':34} {drag['kernel_p50']:8.1f} "
              f"{drag['kernel_p95']:8.1f}")
        print(f"a fast mouse drag ({drag['moves']} moves back to back): {drag['updates']} "
              f"kernel updates (coalesced), figure settled {drag['settle_ms']:.0f} ms after "
              "the mouse was released (± 0.1 s polling)")
    print()
    verdicts = [f"server p95 {p['playground'][1]:.1f} ms "
                f"({'meets' if p['playground'][1] <= 25 else 'misses'} <= 25)",
                f"naive/playground {speed50:.1f}x at p50 "
                f"({'meets' if speed50 >= 3 else 'misses'} >= 3x)"]
    if browser is not None:
        b95 = pct(browser, 95)
        verdicts.append(f"input-to-pixels p95 {b95:.0f} ms "
                        f"({'meets' if b95 <= 150 else 'misses'} <= 150)")
    print("targets: " + "; ".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
