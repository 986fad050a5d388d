"""Live widgets for the optimizer notebooks: the optimizer playground and a live training panel.

Use them in any notebook, without changing matplotlib's backend::

    from gradlab.widgets import Playground, TrainingPanel
    Playground()                      # contour + trajectory, loss per step, phase diagram
    Playground(update=my_momentum)    # your own rule drawn against the reference
    TrainingPanel()                   # an MLP on the digits, trained while you move the sliders

Built on ipywidgets 8 and ipympl.  The numbers come from :mod:`gradlab.playground` (pure
NumPy); this module only draws them.  What makes it right and fast in the browser:

* each widget owns its live canvas (ipympl's, built here): ``%matplotlib widget`` is not needed,
  so the notebook's other figures stay static pictures that fit the page;
* every frame goes to the browser whole (:func:`_live_canvas` says why: partial frames leave
  ghosts), encoded by :func:`_png`, fast enough for a frame per slider move;
* the figure is built once; a control change recomputes and moves the existing artists
  (``set_data``, ``set_text``) and repaints only them over a cached background;
* control changes are coalesced, latest value wins: a change only marks the playground dirty
  and schedules one update on the kernel's event loop, so a slider drag that sends fifty values
  while one update runs is answered by one update with the last value, not by a backlog;
* executed without a front end (nbconvert, grading) the widgets build as usual and the canvas's
  display bundle carries a static PNG, so the notebook keeps a picture.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import functools
import itertools
import math
import struct
import threading
import time
import traceback
import zlib

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
#: One arrow key press on the learning-rate slider: ×10^0.01, 2.3 % (our choice).
LR_STEP = 0.01
MOMENTUM_MAX = 0.99
CONDITION_RANGE = (0, 3)
#: Seconds between two redraws of the training curves (our choice: ~3 frames a second keeps a
#: full render, ~0.1 s here, from taking more than a third of the kernel's time).
REDRAW_EVERY = 0.3
#: Pixels per inch of the widgets' figures: with it their sizes below are pixel sizes, chosen
#: to fit JupyterLab's notebook column (about 1000 pixels wide in a 1280-pixel window).
FIGURE_DPI = 100
#: Backgrounds the playground keeps, one per frame (surface, κ, steps, start) drawn recently:
#: going back to one costs a repaint, not a full draw (1.4 MB each at 1000 × 340; our choice).
BACKGROUNDS_KEPT = 8


class _KernelLoop:
    """Runs callbacks on the event loop a widget was built on: the kernel's main loop.

    JupyterLab sends widget messages to a kernel *subshell* when the kernel has them
    (ipykernel 7), so trait observers, button clicks and ipympl's canvas messages run in
    another thread than the cells.  Two threads drawing one figure (or sharing matplotlib's
    font cache) send half-drawn frames to the browser.  Everything a widget does is therefore
    handed to the loop it was built on, where the cells run, one thing at a time.  Built
    outside a running loop (a script, the tests), callbacks run at once.
    """

    def __init__(self):
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None

    def call(self, callback, *args):
        """Run ``callback(*args)`` on the widget's loop, after what it is doing now (in the
        order of the calls, from whichever thread they come)."""
        if self.loop is None or self.loop.is_closed():
            callback(*args)
        else:
            self.loop.call_soon_threadsafe(callback, *args)

    def handler(self, callback):
        """``callback`` wrapped to run on the widget's loop (for observe / on_click)."""
        return lambda *args: self.call(callback, *args)


def _widgets():
    import ipywidgets
    return ipywidgets


# ---------------------------------------------------------------------------------------------
# the live canvas
# ---------------------------------------------------------------------------------------------

def _png(rgba):
    """An opaque (h, w, 4) uint8 image as PNG bytes: 8-bit RGB, filter type 0 (none) on every
    row, one IDAT compressed at zlib level 1 (the PNG specification, ISO/IEC 15948, sections 5,
    9 and 11).  About three times faster than PIL's encoder on a playground frame, whose
    adaptive filters cost more time than they save bytes on a loopback connection."""
    h, w = rgba.shape[:2]
    rows = np.zeros((h, 1 + 3 * w), np.uint8)            # byte 0 of each row: the filter type
    rows[:, 1:] = rgba[:, :, :3].reshape(h, 3 * w)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + chunk(b"IEND", b""))


@functools.cache
def _live_canvas():
    """The canvas and figure-manager classes of a live figure, or None without ipympl.

    ipympl's canvas, with one change: every frame is sent whole.  By default it sends, like
    matplotlib's WebAgg (``backend_webagg_core.get_diff_image``), only the pixels that changed
    since the previous frame ("diff" image mode), and the browser pastes them over what it
    shows.  ipympl's front end (``src/mpl_widget.ts``, ``handle_binary``) loads each frame into
    one ``<img>``: a frame that arrives while the one before is still loading replaces it, and
    that earlier diff is never pasted.  The pixels it would have repainted keep what they
    showed before — old trajectories, loss curves and (η, β) markers stay on the screen for as
    long as the figure lives (matplotlib issue 19116).  A whole frame does not depend on the
    frames before it, so a frame the browser skips costs nothing but that frame.
    """
    import matplotlib

    # ipympl's package __init__ calls matplotlib.use(ipympl) when matplotlib is loaded (an
    # import then acts as %matplotlib widget): every later plt.subplots of the notebook would
    # become a live figure at full size, clipped by the page.  Only its canvas is wanted here.
    use, matplotlib.use = matplotlib.use, lambda *args, **kwargs: None
    try:
        from ipympl.backend_nbagg import Canvas, FigureManager
    except ImportError:
        return None
    finally:
        matplotlib.use = use

    class WholeFrameCanvas(Canvas):
        def __init__(self, figure, *args, **kwargs):
            self._kernel_loop = _KernelLoop()
            super().__init__(figure, *args, **kwargs)

        def _handle_message(self, object, content, buffers):
            # the front end's requests (draw, refresh, resize, mouse) draw the figure: on the
            # loop that draws it, never beside an update in a subshell's thread
            self._kernel_loop.call(super()._handle_message, object, content, buffers)

        def send_binary(self, data):
            # ipympl keeps the frame for a front end still to come as its picture; its own
            # send_binary stores it without the "data:image/png;base64," prefix, and the
            # browser, loading that as a URL, logs a "broken" image
            if self.syncing_data_url:
                self._data_url = "data:image/png;base64," + base64.b64encode(data).decode()
            self.send({"data": '{"type": "binary"}'}, buffers=[data])

        def get_diff_image(self):
            if not self._png_is_old:
                return None
            rgba = np.asarray(self.get_renderer().buffer_rgba())
            self.set_image_mode("full")              # the front end clears, then paints
            self._png_is_old = self._force_full = False
            return _png(rgba)

    return WholeFrameCanvas, FigureManager


_figure_numbers = itertools.count(1)


def _new_figure(figsize):
    """A figure with its own canvas: live (ipympl's, see :func:`_live_canvas`) when ipympl is
    installed, else Agg (a static picture).  Never pyplot's: the notebook's backend and its
    other figures are left alone, and ``plt.close("all")`` does not close a widget."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=FIGURE_DPI, facecolor="white")   # opaque: whole frames
    live = _live_canvas()
    if live is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
        return fig
    canvas_class, manager_class = live
    canvas = canvas_class(fig)
    manager_class(canvas, next(_figure_numbers))     # routes frames to the canvas's comm
    canvas.header_visible = canvas.footer_visible = canvas.resizable = False
    canvas.toolbar_visible = False
    return fig


def _display_parts(controls, fig):
    """Controls, then the figure.  The live canvas is displayed on its own (not inside a box)
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


def _log_slider(value, description, highest, style, layout):
    """A learning-rate slider, 10^LR_RANGE[0] to 10^highest, showing ``value`` exactly.

    Its readout format ".3" is d3-format's ".3~g": three significant digits without trailing
    zeros, as Python's ".3g" prints the same number in the playground's text."""
    slider = _widgets().FloatLogSlider(value=10.0 ** LR_RANGE[0], base=10, min=LR_RANGE[0],
                                       max=highest, step=LR_STEP, description=description,
                                       readout_format=".3", style=style, layout=layout)
    _set_log_value(slider, value)
    return slider


def _set_log_value(slider, value):
    """Set a log slider to exactly ``value``.

    The browser's slider holds only the points of its grid base^(min + k·step): a value between
    two is snapped, shown and sent back snapped (0.05 became 0.0501, η* = 0.231 became 0.229).
    Moving the grid by less than one step, so that it passes through ``value``, keeps the value
    exact on both sides; the range's lower end moves down by at most one step.
    """
    value = min(max(float(value), slider.base ** LR_RANGE[0]), slider.base ** slider.max)
    x = math.log10(value) / math.log10(slider.base)
    # at least one step below x, so that rounding never puts base^min above the value
    lowest = x - slider.step * max(1, math.ceil((x - LR_RANGE[0]) / slider.step - 1e-9))
    with slider.hold_sync():
        slider.min = lowest
        slider.value = value
        # the grid must move before the value lands: the browser snaps a value that arrives
        # first to the old grid (and sends that back); hold_sync's own message (sent after this
        # one, the same values) orders its keys as a set does
        slider.send_state(["min", "value"])


class _Coalescer:
    """Latest value wins: many ``request()`` calls before the loop runs give one ``flush``.

    ``request`` may come from any thread; ``schedule(run)`` must run ``run`` later, once."""

    def __init__(self, flush, schedule):
        self._flush = flush
        self._schedule = schedule
        self._lock = threading.Lock()
        self._scheduled = False
        self.requests = 0                     # how many changes were asked for
        self.flushes = 0                      # how many updates actually ran

    def request(self, *_):
        with self._lock:
            self.requests += 1
            if self._scheduled:
                return
            self._scheduled = True
        self._schedule(self._run)

    def _run(self):
        with self._lock:
            self._scheduled = False
        self.flushes += 1
        self._flush()


# =============================================================================================
# The playground
# =============================================================================================

#: What the phase diagram's title says for each linear method.
PHASE_TITLES = {"sgd": "rate of gradient descent (β unused)",
                "heavy_ball": "rate of momentum (heavy ball)",
                "nesterov": "rate of Nesterov momentum"}


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
      kernel's main event loop (:class:`_KernelLoop`).  Tests pass a list's ``append`` to run
      the updates by hand.
    - figsize: inches at :data:`FIGURE_DPI`; the default, 1000 × 340 pixels, fits the notebook.

    Attributes worth reading: ``reference``, ``yours`` (:class:`gradlab.playground.Trajectory`),
    ``comparison``, ``message`` (the lines under the controls), ``errors`` (tracebacks of
    failed updates, shown and kept instead of raised into the kernel), ``fig``,
    ``update_seconds`` (the last updates' times, control change to frame sent).
    """

    def __init__(self, update=None, optimizer="momentum", surface="quadratic", lr=0.05,
                 momentum=0.9, steps=100, condition=10.0, start=None, schedule=None,
                 figsize=(10, 3.4)):
        if optimizer not in optim.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of "
                             f"{sorted(optim.OPTIMIZERS)}")
        self.update_rule = update
        self.errors = []
        self.n_updates = 0
        self.full_draws = self.layer_draws = self.blits = 0
        self.update_seconds = collections.deque(maxlen=1000)
        self.message = ""
        self._loop = _KernelLoop()
        self._coalesce = _Coalescer(self._safe_update, schedule or self._loop.call)
        self._surface_key = self._phase_key = self._lam = self._shown = None
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
        style = {"description_width": "100px"}
        wide = W.Layout(width="340px")
        self.w_optimizer = W.Dropdown(options=list(OPTIMIZER_CHOICES.items()), value=optimizer,
                                      description="optimizer", style=style,
                                      layout=W.Layout(width="400px"))   # the longest label fits
        self.w_surface = W.Dropdown(options=list(model.SURFACES), value=surface,
                                    description="surface", style=style,
                                    layout=W.Layout(width="400px"))
        self.w_lr = _log_slider(lr, "learning rate η", LR_RANGE[1], style, wide)
        self.w_momentum = W.FloatSlider(value=momentum, min=0.0, max=MOMENTUM_MAX, step=0.01,
                                        description="momentum β", style=style, layout=wide)
        self.w_steps = W.IntSlider(value=steps, min=5, max=300, step=5, description="steps",
                                   style=style, layout=W.Layout(width="400px"))
        self.w_condition = W.FloatLogSlider(value=condition, base=10, min=CONDITION_RANGE[0],
                                            max=CONDITION_RANGE[1], step=0.05,
                                            description="condition κ", readout_format=".3",
                                            style=style, layout=wide)
        self.w_best = W.Button(description="use η*, β*")
        self.w_best.on_click(self._loop.handler(lambda _: self.use_optimal()))
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
        px.set_xlim(10.0 ** LR_RANGE[0], 10.0 ** LR_RANGE[1])
        px.set_ylim(-0.005, MOMENTUM_MAX + 0.005)
        self._phase_lr = np.logspace(LR_RANGE[0], LR_RANGE[1], 160)
        self._phase_mom = np.linspace(0.0, MOMENTUM_MAX, 100)
        import matplotlib
        cmap = matplotlib.colormaps["viridis_r"].with_extremes(over="0.8")   # grey: diverges
        self.phase_image = px.pcolormesh(self._phase_lr, self._phase_mom,
                                         np.ones((len(self._phase_mom), len(self._phase_lr))),
                                         shading="nearest", cmap=cmap, rasterized=True,
                                         norm=matplotlib.colors.LogNorm(1.0, 1e4))
        self._colorbar = fig.colorbar(self.phase_image, ax=px, shrink=0.9, extend="max",
                                      label="steps per 10× less error (grey: diverges)")
        (self.phase_now,) = px.plot([], [], "o", color="red", mec="white", ms=9)
        (self.phase_best,) = px.plot([], [], "*", color="gold", mec="k", ms=13)
        self.phase_title = px.set_title("", fontsize=8)
        self.phase_note = px.text(0.5, 0.5, "", transform=px.transAxes, ha="center",
                                  va="center", fontsize=8.5, linespacing=1.6)
        # fewer glyphs and tick marks to draw on a full redraw (a surface change): text is most
        # of its time; every other decade labelled, no minor ticks on the log axes
        from matplotlib.ticker import LogLocator, NullLocator
        lx.yaxis.set_major_locator(LogLocator(numticks=6))
        for axis in (lx.yaxis, px.xaxis, self._colorbar.ax.yaxis):
            axis.set_minor_locator(NullLocator())
        fig.subplots_adjust(left=0.065, right=0.93, bottom=0.15, top=0.9, wspace=0.36)
        # Three layers, cheapest first.  What moves with η and β is repainted at every update;
        # the phase diagram of the current method (which changes with the optimizer menu) is
        # painted once per method over the background; the rest (contours, axes, ticks,
        # colour bar) is the background, rendered in full only when the frame itself changes
        # (surface, κ, steps, start) to one not drawn recently.
        self._moving = [self.line_ref, self.line_yours, self.mark_start, self.mark_end,
                        self.text_status, self.loss_ref, self.loss_yours, self.loss_part,
                        self.phase_now]
        self._method_layer = [self.phase_image, self.phase_best, self.phase_title,
                              self.phase_note]
        for artist in self._moving + self._method_layer:
            artist.set_animated(True)
        self._background = self._with_method = None
        self._backgrounds = collections.OrderedDict()    # (frame, size) -> background pixels
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

    def settings(self):
        """The inputs that rebuild this state: ``Playground(**pg.settings())`` draws afresh
        what ``pg`` shows now."""
        return {"update": self.update_rule, "optimizer": self.optimizer,
                "surface": self.w_surface.value, "lr": self.w_lr.value,
                "momentum": self.w_momentum.value, "steps": self.w_steps.value,
                "condition": self.w_condition.value, "start": self.start.copy(),
                "figsize": tuple(self.fig.get_size_inches())}

    def set_start(self, x, y):
        """Move the start to (x, y) (what a click on the contour does) and redraw."""
        self.start = np.array([x, y], dtype=float)
        self._coalesce.request()

    def optimum(self):
        """The current method's best fixed (η, β) on the current quadratic, as the sliders can
        hold it, and its predicted rate: a dict (``lr``, ``momentum``, ``rate``, ``method``),
        or a sentence saying why there is none.  η is held exactly (:func:`_set_log_value`);
        β is rounded *up* to the slider's 0.01: above β* the rate grows only like √β, below it
        it worsens steeply (at κ = 1000, 0.88 instead of 0.8812 gives ρ = 0.986, 0.89 gives
        0.943).  The rate is the one of the setting applied, which the text shows."""
        method = model.LINEAR_METHODS.get(self.optimizer)
        label = _optimizer_label(self.optimizer)
        if self._lam is None:
            return (f"no η*, β* on {self._surface_key[0]}: it is not a quadratic, so the "
                    "linear theory does not apply")
        if method is None:
            return (f"no η*, β* for {label}: its step is not linear in θ, so the linear "
                    "theory does not apply")
        best = model.optimal_settings(*self._lam, method)
        lr = float(best["lr"])
        mom = min(math.ceil(round(float(best["momentum"]) * 100, 9)) / 100, MOMENTUM_MAX)
        return {"lr": lr, "momentum": mom, "method": method,
                "rate": float(model.predicted_rate(lr, mom, self._lam, method))}

    def use_optimal(self):
        """Set η (and β) to the current method's best values for the current quadratic."""
        best = self.optimum()
        if isinstance(best, str):
            self._say(best)
            return
        with self.w_lr.hold_sync(), self.w_momentum.hold_sync():
            _set_log_value(self.w_lr, best["lr"])
            if best["method"] != "sgd":
                self.w_momentum.value = best["momentum"]

    def _say(self, text):
        self.message = text
        self.w_message.value = f"<span style='font-family: monospace'>{text}</span>"

    # ------------------------------------------------------------------ updates
    def _safe_update(self):
        start = time.perf_counter()
        try:
            shown = self._update()
        except Exception as exc:       # never raise into the kernel's comm handler: show it
            self.errors.append(traceback.format_exc())
            self._say(f"update failed: {type(exc).__name__}: {exc}")
            shown = True
        if shown:
            # seconds per update, control change to frame sent (the live canvas sends it)
            self.update_seconds.append(time.perf_counter() - start)

    def _on_click(self, event):
        if event.inaxes is self.ax_contour and event.button == 1 and event.xdata is not None:
            toolbar = getattr(self.fig.canvas, "toolbar", None)
            if toolbar is not None and getattr(toolbar, "mode", "") not in ("", None):
                return                                   # pan / zoom, not a click
            self.set_start(event.xdata, event.ydata)

    def _set_surface(self, name, condition):
        """Rebuild what depends on the surface: contours, window, minimum, colour scale."""
        key = (name, condition if name == "quadratic" else None)
        if key == self._surface_key:
            return
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
        # one colour scale per surface, so that the methods' diagrams compare: from just below
        # the heavy ball's best (the fastest of the three) to 10⁴ steps per tenfold
        self._colorbar.ax.set_visible(self._lam is not None)
        if self._lam is not None:
            fastest = model.optimal_settings(*self._lam)["rate"]
            self.phase_image.set_clim(0.9 * np.log(10.0) / -np.log(max(fastest, 1e-3)), 1e4)
        self._phase_key = None

    def _inside(self, p):
        s = self._surface
        return s.xlim[0] <= p[0] <= s.xlim[1] and s.ylim[0] <= p[1] <= s.ylim[1]

    def _update_phase(self, name):
        """The method layer: the phase diagram of the current method, its title and optimum."""
        method = model.LINEAR_METHODS.get(name)
        key = (self._surface_key, method)
        if key == self._phase_key:
            return
        self._phase_key = key
        self._with_method = None                         # repaint the layer at the next frame
        if self._lam is None or method is None:
            self.phase_image.set_visible(False)
            self.phase_title.set_text("")
            self.phase_note.set_text("no linear theory:\n" + (    # three short lines: the
                f"{_optimizer_label(name)}'s step\nis not linear" if self._lam is not None
                else f"{self._surface_key[0]} is\nnot a quadratic"))   # axes are narrow
            self.phase_best.set_data([], [])
            return
        self.phase_title.set_text(PHASE_TITLES[method])
        LR, MOM = np.meshgrid(self._phase_lr, self._phase_mom)
        rho = model.predicted_rate(LR, MOM, self._lam, method)   # vectorized over the grid
        # a rate ρ shrinks the error 10× in ln 10 / ln(1/ρ) steps; ρ ≥ 1 never does (grey)
        with np.errstate(divide="ignore"):
            steps10 = np.log(10.0) / -np.log(np.minimum(rho, 1 - 1e-16))
        # slow but converging settings are clipped to the top colour; only divergence is grey
        self.phase_image.set_array(np.where(rho < 1, np.minimum(steps10, 0.999e4), 1e9))
        self.phase_image.set_visible(True)
        self.phase_note.set_text("")
        best = model.optimal_settings(*self._lam, method)
        self.phase_best.set_data([best["lr"]], [best["momentum"]])

    def _update(self):
        """Recompute from the controls' current values and move the existing artists.

        Returns False when nothing changed (a value the browser sent back as it was)."""
        self._set_surface(self.w_surface.value, float(self.w_condition.value))
        s = self._surface
        name, lr, mom, steps = (self.w_optimizer.value, float(self.w_lr.value),
                                float(self.w_momentum.value), int(self.w_steps.value))
        # the browser's slider sends a value back, rounded in its last bits: the same setting
        state = (self._surface_key, name, f"{lr:.12g}", f"{mom:.12g}", steps,
                 tuple(self.start))
        if state == self._shown:
            return False
        self._shown = state
        self.n_updates += 1
        ref_fn = optim.OPTIMIZERS[name]
        uses_momentum = model.momentum_parameter(ref_fn) is not None
        self.w_momentum.disabled = not uses_momentum
        ref = self.reference = model.trajectory(s, ref_fn, self.start, steps,
                                                **model.hyper_for(ref_fn, lr, mom))
        self.line_ref.set_data(ref.points[:, 0], ref.points[:, 1])
        self.mark_start.set_data([self.start[0]], [self.start[1]])
        end = ref.points[-1]
        self.mark_end.set_data(([end[0]], [end[1]]) if ref.message else ([], []))
        gap = np.maximum(ref.losses - s.f_min, 1e-16)
        self.loss_ref.set_data(np.arange(ref.n + 1), gap)
        lows, highs = [gap.min()], [gap.max()]

        lines = []
        if ref.message:
            lines.append("the reference " + ref.message)
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
        # the loss axes' limits belong to the frame (a change there needs a full redraw):
        # they depend on the steps, the surface and the start, not on η or β
        frame = (self._surface_key, steps, tuple(self.start))
        if frame != self._frame_key:
            self._frame_key = frame
            self._background = None
            gap0 = max(float(s.f(self.start)) - s.f_min, 1e-12)
            self.ax_loss.set_xlim(0, max(steps, 1))
            self.ax_loss.set_ylim(max(gap0 * 1e-14, 1e-16), gap0 * 1e3)

        # theory: the phase diagram of the current method, the current setting on it
        self._update_phase(name)
        method = model.LINEAR_METHODS.get(name)
        # the marker is where the sliders are; gradient descent is the diagram's β = 0 row
        self.phase_now.set_data(([lr], [mom if uses_momentum else 0.0])
                                if uses_momentum or method == "sgd" else ([], []))
        lines.append(self._theory_line(ref, lr, mom, method))
        self._update_best_button(method)
        self.text_status.set_text(f"diverged at step {ref.diverged_at}" if ref.diverged_at
                                  else "the update rule failed" if ref.error else "")
        self._say("<br>".join(lines))
        self._render()
        return True

    def _theory_line(self, ref, lr, mom, method):
        s = self._surface
        if self._lam is None:
            return f"final loss {ref.losses[-1]:.4g} after {ref.n} steps  ·  " + self.optimum()
        measured = model.measured_rate(ref, s.minimum)
        if method is None:
            return f"rate ρ measured {measured:.4f}  ·  " + self.optimum()
        predicted = float(model.predicted_rate(lr, mom, self._lam, method))
        best = self.optimum()
        setting = f"η* = {best['lr']:.3g}" + (f", β* = {best['momentum']:.2f}"
                                               if method != "sgd" else "")
        return (f"rate ρ: predicted {predicted:.4f}, measured {measured:.4f}  ·  best for "
                f"{_optimizer_label(self.optimizer)}: {setting} → ρ = {best['rate']:.4f}")

    def _update_best_button(self, method):
        best = self.optimum()
        self.w_best.disabled = isinstance(best, str)
        self.w_best.description = "use η*" if method == "sgd" else "use η*, β*"
        self.w_best.tooltip = (best if isinstance(best, str) else
                               f"the best fixed setting of {_optimizer_label(self.optimizer)} "
                               "on this quadratic (linear theory)")

    # ------------------------------------------------------------------ drawing
    def _on_draw(self, event):
        """After every full draw: keep the background, then paint the two layers on it."""
        canvas = self.fig.canvas
        if canvas.is_saving():                           # savefig draws everything at once
            return
        self._background = canvas.copy_from_bbox(self.fig.bbox)
        self._background_size = canvas.get_width_height(physical=True)
        self._backgrounds[self._frame_key, self._background_size] = self._background
        while len(self._backgrounds) > BACKGROUNDS_KEPT:
            self._backgrounds.popitem(last=False)        # the least recently drawn
        self._paint_method_layer()
        for artist in self._moving:
            self.fig.draw_artist(artist)

    def _paint_method_layer(self):
        for artist in self._method_layer:
            self.fig.draw_artist(artist)
        self._with_method = self.fig.canvas.copy_from_bbox(self.fig.bbox)

    def _render(self):
        """Repaint what changed, on the cached layers below it; a full draw only when the
        frame itself changed.  The live canvas sends the frame to the browser either way."""
        canvas = self.fig.canvas
        size = canvas.get_width_height(physical=True)
        if self._background is None or self._background_size != size:
            # a frame drawn before (the student goes back to a surface): its pixels are kept
            self._background = self._backgrounds.get((self._frame_key, size))
            self._background_size, self._with_method = size, None
            if self._background is not None:
                self._backgrounds.move_to_end((self._frame_key, size))
        if self._background is None:
            self.full_draws += 1
            canvas.draw()                                # -> _on_draw paints the layers
            return
        if self._with_method is None:
            self.layer_draws += 1
            canvas.restore_region(self._background)
            self._paint_method_layer()
        else:
            canvas.restore_region(self._with_method)
        self.blits += 1
        for artist in self._moving:
            self.fig.draw_artist(artist)
        canvas.blit(self.fig.bbox)

    # ------------------------------------------------------------------ display
    def _ipython_display_(self):
        _display_parts(self.controls, self.fig)


def _optimizer_label(name):
    """The optimizer menu's label of ``name``, without its formula (for sentences)."""
    label = next(k for k, v in OPTIMIZER_CHOICES.items() if v == name)
    return label.split(" (")[0]


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
        self._loop = _KernelLoop()
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
        style = {"description_width": "100px"}
        wide = W.Layout(width="400px")
        self.w_optimizer = W.Dropdown(options=list(OPTIMIZER_CHOICES.items()), value=optimizer,
                                      description="optimizer", style=style, layout=wide)
        self.w_lr = _log_slider(lr, "learning rate η", 0, style, wide)
        self.w_momentum = W.FloatSlider(value=momentum, min=0.0, max=MOMENTUM_MAX, step=0.01,
                                        description="momentum β", style=style, layout=wide)
        self.w_run = W.ToggleButton(value=False, description="start", icon="play")
        self.w_reset = W.Button(description="reset", icon="refresh")
        self.w_status = W.HTML()
        on_loop = self._loop.handler            # never mid-step, from another thread
        self.w_lr.observe(on_loop(self._on_hyper), names="value")
        self.w_momentum.observe(on_loop(self._on_hyper), names="value")
        self.w_optimizer.observe(on_loop(self._on_method), names="value")
        self.w_run.observe(on_loop(self._on_run), names="value")
        self.w_reset.on_click(on_loop(lambda _: self.reset()))
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
