"""Live widgets for the optimizer notebooks: the optimizer playground and a live training panel.

Use them in a notebook with the interactive backend::

    %matplotlib widget
    from gradlab.widgets import Playground, TrainingPanel
    Playground()                      # contour + trajectory, loss per step, phase diagram
    Playground(update=my_momentum)    # your own rule drawn against the reference
    TrainingPanel()                   # an MLP on the digits, trained while you move the sliders

Built on ipywidgets 8 and ipympl.  The numbers come from :mod:`gradlab.playground` (pure
NumPy); this module only draws them.  Fast by construction:

* the figure is built once; a control change recomputes the trajectory and moves the existing
  artists (``set_data``, ``set_text``) followed by one ``draw_idle`` — never a new figure;
* control changes are coalesced, latest value wins: a change only marks the playground dirty
  and schedules one update on the kernel's event loop, so a slider drag that sends fifty values
  while one update runs is answered by one update with the last value, not by a backlog;
* executed without a front end (nbconvert, grading) the widgets build as usual and the figure
  is displayed with its static PNG, so the notebook keeps a picture.
"""

from __future__ import annotations

import asyncio
import collections
import time
import traceback

import numpy as np

from gradlab import optim
from gradlab import playground as model

__all__ = ["Playground", "TrainingPanel", "OPTIMIZER_CHOICES"]

#: Dropdown labels -> names in :data:`gradlab.optim.OPTIMIZERS`.
OPTIMIZER_CHOICES = {
    "SGD": "sgd",
    "momentum, deck 000 (v ← βv + ∇L)": "momentum",
    "momentum, deck 001 (v ← αv − εg)": "momentum_velocity",
    "Nesterov": "nesterov",
    "AdaGrad": "adagrad",
    "RMSProp": "rmsprop",
    "Adam": "adam",
    "AdamW (decoupled weight decay 0.01)": "adamw",
}

# Slider ranges (our choices): η from 1e-4 to 10 covers Adam's 1e-3 and the divergent rates of
# every surface; momentum stops at 0.99 (at 1 nothing ever forgets); κ up to 1000 makes
# gradient descent's crawl plain while 300 steps still show it.
LR_RANGE = (-4, 1)
MOMENTUM_MAX = 0.99
CONDITION_RANGE = (0, 3)
#: Seconds between two redraws of the training curves (our choice: ~3 frames a second keeps a
#: full render, ~0.1 s here, from taking more than a third of the kernel's time).
REDRAW_EVERY = 0.3


def _schedule_on_loop(callback):
    """Run ``callback`` soon on the running event loop (the kernel's), or now if there is none."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
    else:
        loop.call_soon(callback)


def _widgets():
    import ipywidgets
    return ipywidgets


def _new_figure(figsize):
    """A figure that is not shown on creation (ipympl would display it at once otherwise)."""
    import matplotlib.pyplot as plt
    with plt.ioff():
        fig = plt.figure(figsize=figsize)
    canvas = fig.canvas
    for name, value in (("header_visible", False), ("footer_visible", False),
                        ("toolbar_visible", False), ("resizable", False)):
        if hasattr(canvas, name):
            setattr(canvas, name, value)
    return fig


def _display_parts(controls, fig):
    """Controls, then the figure.  The ipympl canvas is displayed on its own (not inside a box)
    because its display bundle carries a static PNG next to the live view: a notebook run
    without a front end keeps the picture."""
    from IPython.display import display
    display(controls)
    display(fig.canvas if _is_widget(fig.canvas) else fig)


def _is_widget(obj):
    try:
        return isinstance(obj, _widgets().DOMWidget)
    except ImportError:
        return False


class _Coalescer:
    """Latest value wins: many ``request()`` calls before the loop runs give one ``flush``."""

    def __init__(self, flush, schedule=None):
        self._flush = flush
        self._schedule = schedule or _schedule_on_loop
        self._scheduled = False
        self.requests = 0                     # how many changes were asked for
        self.flushes = 0                      # how many updates actually ran

    def request(self, *_):
        self.requests += 1
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self._run)

    def _run(self):
        self._scheduled = False
        self.flushes += 1
        self._flush()


# =============================================================================================
# The playground
# =============================================================================================

class Playground:
    """Tune an optimizer on a 2-D loss surface and watch it move.

    Inputs (each also a control):
    - update: your own update rule ``update(w, dw, state=None, **hyper)``; when given, its
      trajectory is drawn next to the reference's and the message says where they part.
    - optimizer: the reference, a name in :data:`gradlab.optim.OPTIMIZERS`.  Default
      "momentum" (deck 000's form).
    - surface: "quadratic", "rosenbrock", "saddle" or "regression".
    - lr: learning rate η.  Default 0.05: our choice, stable on the default κ = 10 bowl
      (η λmax = 0.5 < 2) yet slow enough to see the path.
    - momentum: β (α, β₁ for the methods that name it so).  Default 0.9, deck 000's value.
    - steps: number of steps drawn.  Default 100.
    - condition: κ of the quadratic.  Default 10 (the default of ``landscapes.quadratic``).
    - start: (2,) start; default the surface's own.  Click on the contour to move it.
    - schedule: how control changes are coalesced; the default runs one update per turn of the
      kernel's event loop.  Tests pass a list's ``append`` to run the updates by hand.

    Attributes worth reading: ``reference``, ``yours`` (:class:`gradlab.playground.Trajectory`),
    ``comparison``, ``message`` (the sentence under the figure), ``errors`` (tracebacks of
    failed updates, shown and kept instead of raised into the kernel), ``fig``.
    """

    def __init__(self, update=None, optimizer="momentum", surface="quadratic", lr=0.05,
                 momentum=0.9, steps=100, condition=10.0, start=None, schedule=None,
                 figsize=(11, 3.6)):
        if optimizer not in optim.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of "
                             f"{sorted(optim.OPTIMIZERS)}")
        self.update_rule = update
        self.errors = []
        self.n_updates = 0
        self.full_draws = self.blits = 0
        self.update_seconds = collections.deque(maxlen=1000)
        self.message = ""
        self._coalesce = _Coalescer(self._safe_update, schedule)
        self._surface_key = None
        self._build_controls(optimizer, surface, lr, momentum, steps, condition)
        self.start = None if start is None else np.asarray(start, dtype=float)
        self._build_figure(figsize)
        self._update()                                   # first picture, synchronously
        for w in (self.w_optimizer, self.w_surface, self.w_lr, self.w_momentum, self.w_steps,
                  self.w_condition):
            w.observe(self._coalesce.request, names="value")

    # ------------------------------------------------------------------ controls
    def _build_controls(self, optimizer, surface, lr, momentum, steps, condition):
        W = _widgets()
        style = {"description_width": "110px"}
        wide = W.Layout(width="340px")
        self.w_optimizer = W.Dropdown(options=list(OPTIMIZER_CHOICES.items()), value=optimizer,
                                      description="optimizer", style=style, layout=wide)
        self.w_surface = W.Dropdown(options=list(model.SURFACES), value=surface,
                                    description="surface", style=style, layout=wide)
        self.w_lr = W.FloatLogSlider(value=lr, base=10, min=LR_RANGE[0], max=LR_RANGE[1],
                                     step=0.01, description="learning rate η",
                                     readout_format=".3g", style=style, layout=wide)
        self.w_momentum = W.FloatSlider(value=momentum, min=0.0, max=MOMENTUM_MAX, step=0.01,
                                        description="momentum β", style=style, layout=wide)
        self.w_steps = W.IntSlider(value=steps, min=5, max=300, step=5, description="steps",
                                   style=style, layout=wide)
        self.w_condition = W.FloatLogSlider(value=condition, base=10, min=CONDITION_RANGE[0],
                                            max=CONDITION_RANGE[1], step=0.05,
                                            description="condition κ", readout_format=".3g",
                                            style=style, layout=wide)
        self.w_best = W.Button(description="use η*, β*", tooltip="the best fixed learning rate "
                               "and momentum for this quadratic (heavy ball)")
        self.w_best.on_click(lambda _: self.use_optimal())
        self.w_message = W.HTML()
        left = W.VBox([self.w_optimizer, self.w_surface, self.w_steps])
        right = W.VBox([self.w_lr, self.w_momentum, self.w_condition])
        self.controls = W.VBox([W.HBox([left, right, self.w_best]), self.w_message])

    # ------------------------------------------------------------------ figure, built once
    def _build_figure(self, figsize):
        fig = self.fig = _new_figure(figsize)
        gs = fig.add_gridspec(1, 3, width_ratios=[1.15, 1, 1])
        ax = self.ax_contour = fig.add_subplot(gs[0])
        self.ax_loss = fig.add_subplot(gs[1])
        self.ax_phase = fig.add_subplot(gs[2])
        ax.set_xlabel("θ₁")
        ax.set_ylabel("θ₂")
        self._contours = []
        (self.line_ref,) = ax.plot([], [], "-o", color="C3", ms=2.5, lw=1.2, label="reference")
        (self.line_yours,) = ax.plot([], [], "-", color="C0", lw=2.2, alpha=0.7,
                                     label="your rule", visible=self.update_rule is not None)
        (self.mark_start,) = ax.plot([], [], "o", color="k", ms=6, zorder=5)
        (self.mark_end,) = ax.plot([], [], "X", color="C3", ms=10, zorder=6)
        (self.mark_min,) = ax.plot([], [], "*", color="gold", mec="k", ms=13, zorder=4)
        self.text_status = ax.text(0.02, 0.98, "", transform=ax.transAxes, va="top",
                                   fontsize=8, color="C3",
                                   bbox=dict(fc="white", alpha=0.8, lw=0))
        if self.update_rule is not None:
            ax.legend(loc="lower right", fontsize=7)

        lx = self.ax_loss
        lx.set_yscale("log")
        lx.set_xlabel("step t")
        lx.set_ylabel("L(θ_t) − L*")
        (self.loss_ref,) = lx.plot([], [], color="C3", lw=1.2)
        (self.loss_yours,) = lx.plot([], [], color="C0", lw=2.2, alpha=0.7,
                                     visible=self.update_rule is not None)
        (self.loss_part,) = lx.plot([], [], "|", color="k", ms=25, mew=1.5)

        px = self.ax_phase
        px.set_xscale("log")
        px.set_xlabel("learning rate η")
        px.set_ylabel("momentum β")
        self._phase_lr = np.logspace(LR_RANGE[0], LR_RANGE[1], 160)
        self._phase_mom = np.linspace(0.0, MOMENTUM_MAX, 100)
        import matplotlib
        cmap = matplotlib.colormaps["viridis_r"].with_extremes(over="0.8")   # grey: diverges
        self.phase_image = px.pcolormesh(self._phase_lr, self._phase_mom,
                                         np.ones((len(self._phase_mom), len(self._phase_lr))),
                                         shading="nearest", cmap=cmap, rasterized=True,
                                         norm=matplotlib.colors.LogNorm(1.0, 1e4))
        fig.colorbar(self.phase_image, ax=px, shrink=0.9, extend="max",
                     label="steps per 10× less error (grey: diverges)")
        (self.phase_now,) = px.plot([], [], "o", color="red", mec="white", ms=9)
        (self.phase_best,) = px.plot([], [], "*", color="gold", mec="k", ms=13)
        self.phase_title = px.set_title("", fontsize=8)
        self.phase_note = px.text(0.5, 0.5, "", transform=px.transAxes, ha="center",
                                  va="center", fontsize=9)
        fig.subplots_adjust(left=0.06, right=0.93, bottom=0.14, top=0.9, wspace=0.34)
        # What moves with η and β is drawn by blitting: the rest (contours, axes, ticks, the
        # phase image) is rendered once into a background that each update pastes back.
        self._animated = [self.line_ref, self.line_yours, self.mark_start, self.mark_end,
                          self.text_status, self.loss_ref, self.loss_yours, self.loss_part,
                          self.phase_now]
        for artist in self._animated:
            artist.set_animated(True)
        self._background = None
        self._frame_key = None
        fig.canvas.mpl_connect("draw_event", self._on_draw)
        fig.canvas.mpl_connect("button_press_event", self._on_click)

    # ------------------------------------------------------------------ state
    @property
    def optimizer(self):
        return self.w_optimizer.value

    @property
    def surface(self):
        return self._surface

    def set_start(self, x, y):
        """Move the start to (x, y) (what a click on the contour does) and redraw."""
        self.start = np.array([x, y], dtype=float)
        self._coalesce.request()

    def use_optimal(self):
        """Set η and β to the theory's best values for the current quadratic."""
        lam = model.hessian_eigenvalues(self._surface)
        if lam is None:
            self._say("η*, β* are defined for the quadratic and regression surfaces only")
            return
        best = model.optimal_settings(*lam)
        with self.w_lr.hold_sync(), self.w_momentum.hold_sync():
            self.w_lr.value = best["lr"]
            self.w_momentum.value = round(best["momentum"], 2)

    def _say(self, text):
        self.message = text
        self.w_message.value = f"<span style='font-family: monospace'>{text}</span>"

    # ------------------------------------------------------------------ updates
    def _safe_update(self):
        start = time.perf_counter()
        try:
            self._update()
        except Exception as exc:       # never raise into the kernel's comm handler: show it
            self.errors.append(traceback.format_exc())
            self._say(f"update failed: {type(exc).__name__}: {exc}")
        finally:
            # seconds per update, model to pixels sent (with ipympl the blit ships the image)
            self.update_seconds.append(time.perf_counter() - start)

    def _on_click(self, event):
        if event.inaxes is self.ax_contour and event.button == 1 and event.xdata is not None:
            toolbar = getattr(self.fig.canvas, "toolbar", None)
            if toolbar is not None and getattr(toolbar, "mode", "") not in ("", None):
                return                                   # pan / zoom, not a click
            self.set_start(event.xdata, event.ydata)

    def _set_surface(self, name, condition):
        """Rebuild what depends on the surface: contours, window, minimum, phase diagram."""
        key = (name, condition if name == "quadratic" else None)
        if key == self._surface_key:
            return False
        if self._surface_key is not None and self._surface_key[0] != name:
            self.start = None                    # a clicked start belongs to its surface
        self._surface_key = key
        s = self._surface = model.make_surface(name, condition)
        for c in self._contours:
            c.remove()
        T1, T2, L = s.grid(120)
        levels = s.f_min + np.geomspace(1e-3, 1.0, 14) * (np.nanmax(L) - s.f_min)
        self._contours = [self.ax_contour.contour(T1, T2, L, levels=levels, cmap="Greys_r",
                                                  linewidths=0.7, alpha=0.8)]
        self.ax_contour.set_xlim(s.xlim)
        self.ax_contour.set_ylim(s.ylim)
        self.ax_contour.set_title(f"{name}" + (f", κ = {condition:.3g}"
                                               if name == "quadratic" else ""), fontsize=9)
        self.mark_min.set_data([s.minimum[0]], [s.minimum[1]])
        if self.start is None or not self._inside(self.start):
            self.start = np.array(s.start, dtype=float)
        self._lam = model.hessian_eigenvalues(s)
        self.w_condition.disabled = name != "quadratic"
        self.w_best.disabled = self._lam is None
        return True

    _phase_key = None
    _lam = None

    def _inside(self, p):
        s = self._surface
        return s.xlim[0] <= p[0] <= s.xlim[1] and s.ylim[0] <= p[1] <= s.ylim[1]

    def _update_phase(self, name):
        method = model.LINEAR_METHODS.get(name)
        key = (self._surface_key, method)
        if key == self._phase_key:
            return
        self._phase_key = key
        # the title names what the diagram shows (it changes with the frame only: the numbers,
        # which change with every move, are in the message line, not re-rendered as glyphs)
        self.phase_title.set_text({"sgd": "rate of gradient descent (β unused)",
                                   "heavy_ball": "rate of momentum (heavy ball)",
                                   "nesterov": "rate of Nesterov momentum"}.get(method, "")
                                  if self._lam is not None else "")
        if self._lam is None or method is None:
            self.phase_image.set_visible(False)
            why = ("no linear theory: the step is not linear here" if self._lam is not None
                   else "no linear theory: the surface is not quadratic")
            self.phase_note.set_text(why)
            self.phase_best.set_data([], [])
            return
        LR, MOM = np.meshgrid(self._phase_lr, self._phase_mom)
        rho = model.predicted_rate(LR, MOM, self._lam, method)   # vectorized over the grid
        # a rate ρ shrinks the error 10× in ln 10 / ln(1/ρ) steps; ρ ≥ 1 never does (grey)
        with np.errstate(divide="ignore"):
            steps10 = np.log(10.0) / -np.log(np.minimum(rho, 1 - 1e-16))
        # slow but converging settings are clipped to the top colour; only divergence is grey
        self.phase_image.set_array(np.where(rho < 1, np.minimum(steps10, 0.999e4), 1e9))
        best = model.optimal_settings(*self._lam)
        self.phase_image.set_clim(0.9 * np.log(10.0) / -np.log(max(best["rate"], 1e-3)), 1e4)
        self.phase_image.set_visible(True)
        self.phase_note.set_text("")
        best = model.optimal_settings(*self._lam)
        if method == "heavy_ball":
            self.phase_best.set_data([best["lr"]], [best["momentum"]])
        elif method == "sgd":
            self.phase_best.set_data([best["gd_lr"]], [0.0])
        else:
            self.phase_best.set_data([], [])

    def _update(self):
        """Recompute from the controls' current values and move the existing artists."""
        self.n_updates += 1
        self._set_surface(self.w_surface.value, float(self.w_condition.value))
        s = self._surface
        name, lr, mom, steps = (self.w_optimizer.value, float(self.w_lr.value),
                                float(self.w_momentum.value), int(self.w_steps.value))
        ref_fn = optim.OPTIMIZERS[name]
        self.w_momentum.disabled = model.momentum_parameter(ref_fn) is None
        ref = self.reference = model.trajectory(s, ref_fn, self.start, steps,
                                                **model.hyper_for(ref_fn, lr, mom))
        self.line_ref.set_data(ref.points[:, 0], ref.points[:, 1])
        self.mark_start.set_data([self.start[0]], [self.start[1]])
        end = ref.points[-1]
        self.mark_end.set_data(([end[0]], [end[1]]) if ref.message else ([], []))
        t = np.arange(ref.n + 1)
        gap = np.maximum(ref.losses - s.f_min, 1e-16)
        self.loss_ref.set_data(t, gap)
        lows, highs = [gap.min()], [gap.max()]

        lines = []
        self.yours = self.comparison = None
        if self.update_rule is not None:
            yours = self.yours = model.trajectory(s, self.update_rule, self.start, steps,
                                                  **model.hyper_for(self.update_rule, lr, mom))
            self.line_yours.set_data(yours.points[:, 0], yours.points[:, 1])
            ygap = np.maximum(yours.losses - s.f_min, 1e-16)
            self.loss_yours.set_data(np.arange(yours.n + 1), ygap)
            if len(ygap):
                lows.append(ygap.min())
                highs.append(ygap.max())
            cmp_ = self.comparison = model.compare(yours, ref)
            lines.append(cmp_.message)
            if yours.message and yours.message not in cmp_.message:
                lines.append("your rule " + yours.message)
            part = cmp_.step
            self.loss_part.set_data(([part], [np.sqrt(min(lows) * max(highs))])
                                    if part is not None else ([], []))
        if ref.message:
            lines.insert(0, "reference " + ref.message)
        # the loss axes' limits belong to the frame (a change there needs a full redraw):
        # they depend on the steps, the surface and the start, not on η or β
        gap0 = max(float(s.f(self.start)) - s.f_min, 1e-12)
        frame = (self._surface_key, steps, tuple(self.start), name)
        if frame != self._frame_key:
            self._frame_key = frame
            self._background = None
            self.ax_loss.set_xlim(0, max(steps, 1))
            self.ax_loss.set_ylim(max(gap0 * 1e-14, 1e-16), gap0 * 1e3)

        # theory: the phase diagram of the current method, the current setting on it
        self._update_phase(name)
        method = model.LINEAR_METHODS.get(name)
        self.phase_now.set_data([lr], [mom if method not in (None, "sgd") else 0.0])
        measured = model.measured_rate(ref, s.minimum) if self._lam is not None else np.nan
        if self._lam is not None and method is not None:
            predicted = float(model.predicted_rate(lr, mom, self._lam, method))
            best = model.optimal_settings(*self._lam)
            theory = (f"rate ρ: predicted {predicted:.4f}, measured {measured:.4f}  ·  "
                      f"η* = {best['lr']:.3g}, β* = {best['momentum']:.3f} → ρ* = "
                      f"{best['rate']:.4f}")
        elif self._lam is not None:
            theory = f"rate ρ measured {measured:.4f} (no linear theory for {name})"
        else:
            theory = f"final loss {ref.losses[-1]:.4g} after {ref.n} steps"
        lines.append(theory)
        self.text_status.set_text(f"diverged at step {ref.diverged_at}" if ref.diverged_at
                                  else "the update rule failed" if ref.error else "")
        self._say("<br>".join(lines))
        self._render()

    def _on_draw(self, event):
        """After every full draw: keep the background, then paint the moving artists on it."""
        canvas = self.fig.canvas
        self._background = canvas.copy_from_bbox(self.fig.bbox)
        self._background_size = canvas.get_width_height(physical=True)
        for artist in self._animated:
            self.fig.draw_artist(artist)

    def _render(self):
        """Blit when only the moving artists changed, else ask for one full redraw."""
        canvas = self.fig.canvas
        if (self._background is None
                or self._background_size != canvas.get_width_height(physical=True)):
            self.full_draws += 1
            canvas.draw_idle()
            return
        self.blits += 1
        canvas.restore_region(self._background)
        for artist in self._animated:
            self.fig.draw_artist(artist)
        canvas.blit(self.fig.bbox)

    # ------------------------------------------------------------------ display
    def _ipython_display_(self):
        _display_parts(self.controls, self.fig)


# =============================================================================================
# Live training
# =============================================================================================

class TrainingPanel:
    """Train an MLP on the digits while the learning rate and momentum sliders move.

    The network (:class:`gradlab.network.MLP`) trains in small chunks of mini-batches from a
    task on the kernel's event loop: between two chunks the kernel handles slider messages, so
    it stays responsive.  The sliders write into the network's :class:`gradlab.optim.Optimizer`
    (``opt.hyper["lr"] = ...``), which the next mini-batch reads: velocities and moment
    estimates are kept.  Changing the *method* resets the state (the accumulators of one method
    mean something else to another, see :class:`gradlab.optim.Optimizer`) and says so.

    Inputs:
    - optimizer: a name in :data:`gradlab.optim.OPTIMIZERS`.  Default "momentum".
    - lr: learning rate.  Default 0.05: our choice, fast but stable for this net with momentum 0.9.
    - momentum: β (α, β₁).  Default 0.9 (deck 000).
    - sizes, activation: the MLP.  Default [64, 32, 10] with ReLU: our choice, small enough to
      train a chunk in milliseconds, large enough to pass 90 % test accuracy.
    - batch_size: default 32 (the default of ``MLP.fit``).
    - chunk: mini-batches per chunk (between two looks at the kernel's messages).  Default 10.
    - seed: weights, split and shuffles.
    """

    def __init__(self, optimizer="momentum", lr=0.05, momentum=0.9, sizes=(64, 32, 10),
                 activation="relu", batch_size=32, chunk=10, seed=0, figsize=(9, 3.2)):
        from gradlab import data
        from gradlab.network import MLP

        X, y = data.digits()
        self.X_train, self.X_test, self.y_train, self.y_test = data.split(
            X, y, test_fraction=0.2, seed=seed, stratify=True)
        self._make_net = lambda: MLP(list(sizes), activation=activation, seed=seed)
        self.net = self._make_net()
        self.batch_size, self.chunk = int(batch_size), int(chunk)
        self.opt = optim.Optimizer(optimizer)
        self.net.optimizer = self.opt
        self.running = False
        self.errors = []
        self._task = None
        self._last_draw = -np.inf
        self._order, self._pos = None, 0
        self.history = {"step": [], "loss": [], "test_loss": [], "accuracy": [],
                        "test_accuracy": []}
        self._build_controls(optimizer, lr, momentum)
        self._set_hyper()
        self._build_figure(figsize)
        self._evaluate()

    # ------------------------------------------------------------------ controls
    def _build_controls(self, optimizer, lr, momentum):
        W = _widgets()
        style = {"description_width": "110px"}
        wide = W.Layout(width="340px")
        self.w_optimizer = W.Dropdown(options=list(OPTIMIZER_CHOICES.items()), value=optimizer,
                                      description="optimizer", style=style, layout=wide)
        self.w_lr = W.FloatLogSlider(value=lr, base=10, min=LR_RANGE[0], max=0, step=0.01,
                                     description="learning rate η", readout_format=".3g",
                                     style=style, layout=wide)
        self.w_momentum = W.FloatSlider(value=momentum, min=0.0, max=MOMENTUM_MAX, step=0.01,
                                        description="momentum β", style=style, layout=wide)
        self.w_run = W.ToggleButton(value=False, description="start", icon="play")
        self.w_reset = W.Button(description="reset", icon="refresh")
        self.w_status = W.HTML()
        self.w_lr.observe(self._on_hyper, names="value")
        self.w_momentum.observe(self._on_hyper, names="value")
        self.w_optimizer.observe(self._on_method, names="value")
        self.w_run.observe(self._on_run, names="value")
        self.w_reset.on_click(lambda _: self.reset())
        self.controls = W.VBox([W.HBox([W.VBox([self.w_optimizer, self.w_lr, self.w_momentum]),
                                        W.VBox([self.w_run, self.w_reset])]), self.w_status])

    def _set_hyper(self):
        """Write the sliders into the optimizer; it reads them at its next step."""
        fn = optim.OPTIMIZERS[self.w_optimizer.value]
        for key, value in model.hyper_for(fn, self.w_lr.value, self.w_momentum.value).items():
            self.opt.hyper[key] = value
        self.w_momentum.disabled = model.momentum_parameter(fn) is None

    def _on_hyper(self, _change):
        self._set_hyper()                   # takes effect on the next mini-batch; state kept

    def _on_method(self, change):
        self.opt.update = change["new"]
        self.opt.hyper.clear()              # the same dict: views of it stay live
        self.opt.reset()                    # another method's accumulators mean something else
        self._set_hyper()
        self._status(f"switched to {change['new']}: optimizer state reset")

    def _on_run(self, change):
        self.start() if change["new"] else self.pause()

    # ------------------------------------------------------------------ figure
    def _build_figure(self, figsize):
        fig = self.fig = _new_figure(figsize)
        self.ax_loss, self.ax_acc = fig.subplots(1, 2)
        self.ax_loss.set_yscale("log")
        self.ax_loss.set_xlabel("mini-batch step")
        self.ax_loss.set_ylabel("cross-entropy")
        self.ax_acc.set_xlabel("mini-batch step")
        self.ax_acc.set_ylabel("accuracy")
        self.ax_acc.set_ylim(0, 1)
        (self.line_loss,) = self.ax_loss.plot([], [], color="C0", label="train (last chunk)")
        (self.line_test_loss,) = self.ax_loss.plot([], [], color="C1", label="test")
        (self.line_acc,) = self.ax_acc.plot([], [], color="C0", label="train (last chunk)")
        (self.line_test_acc,) = self.ax_acc.plot([], [], color="C1", label="test")
        self.ax_loss.legend(fontsize=8)
        self.ax_acc.legend(fontsize=8, loc="lower right")
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.95, wspace=0.25)

    # ------------------------------------------------------------------ training
    @property
    def steps(self):
        """Mini-batch steps taken since the last reset."""
        return self.opt.steps.get("W1", 0)

    def next_batch_indices(self):
        """The training examples of the next mini-batch (a new shuffle at each epoch)."""
        n = len(self.X_train)
        if self._order is None or self._pos >= n:
            self._order, self._pos = self.net.rng.permutation(n), 0
        return self._order[self._pos:self._pos + self.batch_size]

    def train(self, batches=None):
        """Take ``batches`` mini-batch steps (default one chunk), then update the curves."""
        losses, hits, seen = [], 0, 0
        for _ in range(self.chunk if batches is None else batches):
            idx = self.next_batch_indices()
            self._pos += len(idx)
            X, y = self.X_train[idx], self.y_train[idx]
            hits += int(np.sum(self.net.predict(X) == y))        # before the update, like loss
            seen += len(idx)
            losses.append(self.net.step(X, y))
        if losses:
            self._evaluate(float(np.mean(losses)), hits / seen)

    def _evaluate(self, train_loss=None, train_acc=None):
        h = self.history
        if train_loss is None:                      # the untrained net: train = whole set
            train_loss = self.net.loss(self.X_train, self.y_train)
            train_acc = self.net.accuracy(self.X_train, self.y_train)
        h["step"].append(self.steps)
        h["loss"].append(train_loss)
        h["accuracy"].append(train_acc)
        h["test_loss"].append(self.net.loss(self.X_test, self.y_test))
        h["test_accuracy"].append(self.net.accuracy(self.X_test, self.y_test))
        self._redraw()

    def _redraw(self, force=False):
        h = self.history
        finite = np.isfinite(h["loss"][-1]) and np.isfinite(h["test_loss"][-1])
        self.line_loss.set_data(h["step"], h["loss"])
        self.line_test_loss.set_data(h["step"], h["test_loss"])
        self.line_acc.set_data(h["step"], h["accuracy"])
        self.line_test_acc.set_data(h["step"], h["test_accuracy"])
        for ax in (self.ax_loss, self.ax_acc):
            ax.relim()
            ax.autoscale_view()
        self.ax_acc.set_ylim(0, 1)
        self._status(f"step {self.steps}: test accuracy {h['test_accuracy'][-1]:.3f}, "
                     f"test loss {h['test_loss'][-1]:.4g}  ·  η = {self.w_lr.value:.3g}"
                     + ("" if finite else "  ·  the loss is no longer finite: lower η, "
                        "then reset"))
        # the curves are always current; the (full) redraw is asked for at most every
        # REDRAW_EVERY seconds, so rendering never eats the training or the sliders' time
        if force or time.perf_counter() - self._last_draw >= REDRAW_EVERY:
            self.fig.canvas.draw_idle()
            self._last_draw = time.perf_counter()        # after: Agg draws synchronously

    def _status(self, text):
        self.status = text
        self.w_status.value = f"<span style='font-family: monospace'>{text}</span>"

    async def _run(self):
        try:
            while self.running:
                self.train()
                if not np.isfinite(self.history["loss"][-1]):
                    self.pause()
                    break
                await asyncio.sleep(0.02)         # the kernel handles slider messages here
        except Exception as exc:                  # show it; never kill the kernel's loop
            self.errors.append(traceback.format_exc())
            self._status(f"training stopped: {type(exc).__name__}: {exc}")
            self.running = False
        finally:
            self.w_run.value = False

    def start(self):
        """Train in the background, one chunk per turn of the event loop, until :meth:`pause`."""
        if self.running:
            return self._task
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._status("no running event loop (not in a kernel): call train(n) instead")
            self.w_run.value = False
            return None
        self.running = True
        self.w_run.value, self.w_run.description, self.w_run.icon = True, "pause", "pause"
        self._task = loop.create_task(self._run())
        return self._task

    def pause(self):
        """Stop after the current chunk (the network and optimizer state are kept)."""
        self.running = False
        self.w_run.value, self.w_run.description, self.w_run.icon = False, "start", "play"
        self._redraw(force=True)

    def reset(self):
        """Pause, new initial weights, forget the optimizer state, clear the curves."""
        self.pause()
        self.net = self._make_net()
        self.opt.reset()
        self.net.optimizer = self.opt
        self._order, self._pos = None, 0
        for values in self.history.values():
            values.clear()
        self._evaluate()

    def _ipython_display_(self):
        _display_parts(self.controls, self.fig)
