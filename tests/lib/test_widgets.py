"""The optimizer playground without a browser: its model (gradlab.playground) and its view
(gradlab.widgets) on its live canvas, with the frames it sends caught and pasted the way
ipympl's front end pastes them.

Oracles: a plain loop over the update function (the trajectory), hand-derived steps (where a
student's rule parts), the eigenvalues of each method's 2×2 iteration matrix from
``np.linalg.eigvals`` (the predicted rates), rates measured on trajectories over a grid of
settings (each method's optimum), a fresh playground drawn in full (what the browser must
show), the browser slider's own snapping rule, and the artists matplotlib itself reports.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import io  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backend_bases import MouseEvent  # noqa: E402
from PIL import Image  # noqa: E402

from gradlab import optim  # noqa: E402
from gradlab import playground as model  # noqa: E402
from gradlab import widgets  # noqa: E402
from gradlab.widgets import Playground  # noqa: E402

HYPER = {  # a converging, non-trivial setting per optimizer (rates scaled to each method)
    "sgd": {"lr": 0.05}, "momentum": {"lr": 0.02, "beta": 0.8},
    "momentum_velocity": {"lr": 0.02, "alpha": 0.8}, "nesterov": {"lr": 0.02, "alpha": 0.7},
    "adagrad": {"lr": 0.3}, "rmsprop": {"lr": 0.01, "rho": 0.9}, "adam": {"lr": 0.05},
    "adamw": {"lr": 0.05, "weight_decay": 0.1},
}


def plain_loop(surface, update, start, steps, **hyper):
    """The oracle: the update applied step by step, nothing else."""
    w, state, points = np.array(start, dtype=float), None, [np.array(start, dtype=float)]
    for _ in range(steps):
        w, state = update(w, surface.grad(w), state, **hyper)
        points.append(w)
    return np.array(points)


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("surface_name", model.SURFACES)
@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_trajectory_equals_the_update_applied_step_by_step(name, surface_name):
    s = model.make_surface(surface_name, condition=20.0)
    rng = np.random.default_rng(len(name) * 7 + len(surface_name))
    hyper = dict(HYPER[name])
    if surface_name == "rosenbrock":                   # curvature ~1000 there: smaller steps
        hyper["lr"] *= 0.02 if name in ("sgd", "momentum", "momentum_velocity", "nesterov") else 1
    for start in (s.start, rng.uniform([s.xlim[0], s.ylim[0]], [s.xlim[1], s.ylim[1]])):
        traj = model.trajectory(s, optim.OPTIMIZERS[name], start, 40, **hyper)
        expected = plain_loop(s, optim.OPTIMIZERS[name], start, 40, **hyper)
        assert traj.diverged_at is None and traj.error is None and traj.message == ""
        np.testing.assert_allclose(traj.points, expected, rtol=0, atol=0)
        np.testing.assert_allclose(traj.losses, [float(s.f(p)) for p in expected], rtol=1e-12)


def test_the_momentum_slider_feeds_whichever_name_the_rule_uses():
    assert model.hyper_for(optim.momentum, 0.1, 0.5) == {"lr": 0.1, "beta": 0.5}
    assert model.hyper_for(optim.momentum_velocity, 0.1, 0.5) == {"lr": 0.1, "alpha": 0.5}
    assert model.hyper_for(optim.nesterov, 0.1, 0.5) == {"lr": 0.1, "alpha": 0.5}
    assert model.hyper_for(optim.adam, 0.1, 0.5) == {"lr": 0.1, "beta1": 0.5}
    assert model.hyper_for(optim.sgd, 0.1, 0.5) == {"lr": 0.1}
    assert model.hyper_for(lambda w, dw, state=None, **kw: (w, state), 0.1, 0.5) == \
        {"lr": 0.1, "beta": 0.5}


def test_a_diverging_setting_stops_at_the_last_finite_point_with_a_message():
    # κ = 10, η = 0.3 > 2/λmax = 0.2: along λmax the error is multiplied by |1 − 3| = 2 per step
    s = model.make_surface("quadratic", condition=10.0)
    traj = model.trajectory(s, optim.sgd, s.start, 500, lr=0.3)
    k = traj.diverged_at
    assert k is not None and traj.n == k - 1 < 500
    assert np.all(np.isfinite(traj.points)) and np.all(np.isfinite(traj.losses))
    np.testing.assert_array_equal(traj.points, plain_loop(s, optim.sgd, s.start, k - 1, lr=0.3))
    # along λmax the error doubles each step (the λmin part shrinks): the loss ½ λmax c² 4^k
    # passes the bound first, at the smallest such k, give or take the decaying λmin part
    lam, vec = np.linalg.eigh(s.info["A"])
    c = abs(vec[:, 1] @ (s.start - s.minimum))
    k_expected = int(np.ceil(np.log(model.DIVERGED / (0.5 * lam[1] * c * c)) / np.log(4.0)))
    assert abs(k - k_expected) <= 1
    assert f"diverged at step {k}" in traj.message


def test_an_exploding_loss_at_a_finite_point_counts_as_divergence():
    # on Rosenbrock θ can stay below 1e12 while L ~ 100 θ₁⁴ overflows every bound
    s = model.make_surface("rosenbrock")
    traj = model.trajectory(s, optim.sgd, s.start, 50, lr=0.05)
    assert traj.diverged_at is not None
    assert np.all(np.abs(traj.losses) < model.DIVERGED)


def forgetful_momentum(w, dw, state=None, lr=0.01, beta=0.9):
    """A typical student mistake: computes the velocity but never stores it."""
    v = np.zeros_like(w) if state is None else state.get("v", np.zeros_like(w))
    v = beta * v + dw
    return w - lr * v, {}


def test_a_rule_that_forgets_its_velocity_parts_at_step_two_by_eta_beta_g0():
    s = model.make_surface("quadratic", condition=10.0)
    lr, beta = 0.05, 0.9
    ref = model.trajectory(s, optim.momentum, s.start, 30, lr=lr, beta=beta)
    yours = model.trajectory(s, forgetful_momentum, s.start, 30, lr=lr, beta=beta)
    cmp_ = model.compare(yours, ref)
    # step 1 is the same (v = g0 either way); at step 2 the reference has v = β g0 + g1, the
    # forgetful rule v = g1: the points differ by η β ‖g0‖
    assert cmp_.step == 2
    assert cmp_.distance == pytest.approx(lr * beta * np.linalg.norm(s.grad(s.start)), rel=1e-9)
    assert "step 2" in cmp_.message


def test_a_correct_rule_in_the_other_convention_matches_the_reference():
    def velocity_momentum(w, dw, state=None, lr=0.01, beta=0.9):   # deck 001's form, β named
        v = beta * (0 if state is None else state["v"]) - lr * dw
        return w + v, {"v": v}

    s = model.make_surface("regression")
    ref = model.trajectory(s, optim.momentum, s.start, 80, lr=0.05, beta=0.8)
    yours = model.trajectory(s, velocity_momentum, s.start, 80, lr=0.05, beta=0.8)
    cmp_ = model.compare(yours, ref)
    assert cmp_.step is None and "matches" in cmp_.message


def test_a_rule_that_raises_is_reported_at_its_step():
    def breaks_at_three(w, dw, state=None, lr=0.01):
        t = 1 if state is None else state["t"] + 1
        if t == 3:
            raise ValueError("operands could not be broadcast")
        return w - lr * dw, {"t": t}

    s = model.make_surface("saddle")
    yours = model.trajectory(s, breaks_at_three, s.start, 10, lr=0.1)
    ref = model.trajectory(s, optim.sgd, s.start, 10, lr=0.1)
    assert yours.error[0] == 3 and yours.n == 2
    cmp_ = model.compare(yours, ref)
    assert cmp_.step == 3 and "ValueError at step 3" in cmp_.message


def unfinished_momentum(w, dw, state=None, lr=0.01, beta=0.9):
    """The exercise's stub, untouched."""
    raise NotImplementedError()


@pytest.mark.parametrize("rule, says", [
    (unfinished_momentum, "your rule is not implemented yet: replace `raise "
                          "NotImplementedError()` with your code"),
    (lambda w, dw, state=None, lr=0.1, beta=0.9: 1 / 0,
     "your rule raised ZeroDivisionError at step 1: division by zero"),
    (lambda w, dw, state=None, lr=0.1, beta=0.9: next(iter(())),     # an error with no text
     "your rule raised StopIteration at step 1"),
])
def test_a_rule_that_stops_says_so_in_a_whole_sentence(rule, says):
    s = model.make_surface("quadratic")
    cmp_ = model.compare(model.trajectory(s, rule, s.start, 10, lr=0.1, beta=0.9),
                         model.trajectory(s, optim.momentum, s.start, 10, lr=0.1, beta=0.9))
    assert cmp_.message.endswith(says)                 # no dangling colon after the name
    assert not cmp_.message.rstrip().endswith(":")


@pytest.mark.parametrize("rule, says", [
    (lambda w, dw, state=None, lr=0.1: w - lr * dw, "must return a pair (next_w, state)"),
    (lambda w, dw, state=None, lr=0.1: ((w - lr * dw).sum(), state), "shape of w, (2,)"),
])
def test_a_rule_with_the_wrong_return_is_told_what_to_return(rule, says):
    s = model.make_surface("quadratic")
    traj = model.trajectory(s, rule, s.start, 5, lr=0.1)
    assert traj.error[0] == 1 and traj.n == 0 and says in traj.message


def iteration_matrix(lam, lr, beta, method):
    """One step on the error (e_t, e_{t-1}) along an eigenvector, written out per method."""
    if method == "nesterov":       # θ_{t+1} = y_t − ηλ y_t, y = θ + β(θ − θ_prev)
        a = (1 + beta) * (1 - lr * lam)
        return np.array([[a, -beta * (1 - lr * lam)], [1.0, 0.0]])
    return np.array([[1 + beta - lr * lam, -beta], [1.0, 0.0]])   # heavy ball


@pytest.mark.parametrize("method", ["heavy_ball", "nesterov", "sgd"])
def test_predicted_rate_is_the_spectral_radius_of_one_step(method):
    rng = np.random.default_rng(3)
    lams = (0.7, 13.0)
    lr = 10 ** rng.uniform(-3, 0, 40)
    beta = rng.uniform(0, 0.99, 40)
    got = model.predicted_rate(lr, beta, lams, method)
    for i in range(40):
        b = 0.0 if method == "sgd" else beta[i]
        expected = max(np.abs(np.linalg.eigvals(iteration_matrix(l, lr[i], b, method))).max()
                       for l in lams)
        assert got[i] == pytest.approx(expected, rel=1e-9, abs=1e-12)


PUBLISHED_RATES = {  # each method's best rate on a quadratic, as its source states it
    "sgd": lambda k: (k - 1) / (k + 1),                              # deck 000
    "heavy_ball": lambda k: (np.sqrt(k) - 1) / (np.sqrt(k) + 1),     # Polyak 1964
    "nesterov": lambda k: 1 - 2 / np.sqrt(3 * k + 1),                # Lessard et al. 2016
}


@pytest.mark.parametrize("kappa", [4.0, 10.0, 100.0])
@pytest.mark.parametrize("method", sorted(PUBLISHED_RATES))
def test_each_methods_optimum_gives_its_published_rate_and_no_grid_point_beats_it(method, kappa):
    lam = (0.5, 0.5 * kappa)                         # the optimum depends on both eigenvalues
    best = model.optimal_settings(*lam, method)
    assert best["rate"] == pytest.approx(PUBLISHED_RATES[method](kappa))
    assert model.predicted_rate(best["lr"], best["momentum"], lam, method) == \
        pytest.approx(best["rate"], rel=1e-6)
    LR, B = np.meshgrid(np.geomspace(1e-3, 4.0, 400), np.linspace(0, 0.99, 300))
    assert model.predicted_rate(LR, B, lam, method).min() >= best["rate"] - 1e-9
    if method == "sgd":
        assert best["momentum"] == 0.0


def measured_grid(method, kappa, lrs, betas, steps=400):
    """Rates measured on trajectories (no theory) for every (η, β) of a grid."""
    name = {"heavy_ball": "momentum", "nesterov": "nesterov", "sgd": "sgd"}[method]
    fn = optim.OPTIMIZERS[name]
    s = model.make_surface("quadratic", kappa)
    rates = np.full((len(betas), len(lrs)), np.inf)
    for i, beta in enumerate(betas):
        for j, lr in enumerate(lrs):
            traj = model.trajectory(s, fn, s.start, steps, **model.hyper_for(fn, lr, beta))
            rates[i, j] = model.measured_rate(traj, s.minimum, floor=1e-12)
    return rates


@pytest.mark.parametrize("method, kappa", [("heavy_ball", 30.0), ("heavy_ball", 100.0),
                                           ("nesterov", 30.0), ("nesterov", 100.0),
                                           ("sgd", 20.0)])
def test_the_optimum_is_the_best_of_a_grid_of_measured_rates(method, kappa):
    """The oracle is the trajectories themselves: no setting of a grid around the optimum
    contracts measurably faster than the theory's best, and the grid's best is that fast.
    (κ ≥ 20: slow enough that hundreds of steps lie in the asymptotic regime.)"""
    best = model.optimal_settings(1.0, kappa, method)
    lrs = best["lr"] * np.geomspace(1 / 1.5, 1.5, 13)       # the optimum is the middle point
    betas = [0.0] if method == "sgd" else np.clip(best["momentum"] + np.linspace(-0.15, 0.15, 13),
                                                  0, 0.99)
    rates = measured_grid(method, kappa, lrs, betas, steps=500)
    assert best["rate"] - 0.01 <= rates.min() <= best["rate"] + 0.01


def test_the_heavy_balls_optimum_makes_nesterov_diverge_and_nesterovs_own_does_not():
    s = model.make_surface("quadratic", 10.0)
    heavy = model.optimal_settings(1.0, 10.0, "heavy_ball")
    own = model.optimal_settings(1.0, 10.0, "nesterov")
    assert model.predicted_rate(heavy["lr"], heavy["momentum"], (1.0, 10.0), "nesterov") > 1.8
    wrong = model.trajectory(s, optim.nesterov, s.start, 300, lr=heavy["lr"],
                             alpha=heavy["momentum"])
    right = model.trajectory(s, optim.nesterov, s.start, 300, lr=own["lr"], alpha=own["momentum"])
    assert wrong.diverged_at is not None and right.diverged_at is None
    with pytest.raises(ValueError, match="no optimum known for 'adam'"):
        model.optimal_settings(1.0, 10.0, "adam")


@pytest.mark.parametrize("name, lr, beta", [("sgd", 0.1, 0.0), ("momentum", 0.05, 0.6),
                                            ("momentum_velocity", 0.08, 0.3),
                                            ("nesterov", 0.05, 0.8)])
def test_the_measured_rate_agrees_with_the_prediction(name, lr, beta):
    s = model.make_surface("quadratic", condition=20.0)
    fn = optim.OPTIMIZERS[name]
    traj = model.trajectory(s, fn, s.start, 300, **model.hyper_for(fn, lr, beta))
    lam = model.hessian_eigenvalues(s)
    assert lam == pytest.approx((1.0, 20.0))
    predicted = model.predicted_rate(lr, beta, lam, model.LINEAR_METHODS[name])
    assert model.measured_rate(traj, s.minimum) == pytest.approx(float(predicted), abs=0.01)


# ---------------------------------------------------------------------------------------------
# the view, on its live canvas (no browser)
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def figures():
    plt.close("all")
    yield
    plt.close("all")


def pixels(pg):
    return np.asarray(pg.fig.canvas.buffer_rgba()).copy()


class FrontEnd:
    """What ipympl's front end does with the frames a canvas sends (src/mpl_widget.ts:
    ``handle_binary`` points the one ``<img>`` at the newest frame; its ``onload`` clears the
    picture for a "full" frame, then paints the image over it, so a "diff" frame's transparent
    pixels keep what was there).  A frame that arrives while the one before is still loading
    replaces it: ``loads(i)`` says whether frame i finished loading before frame i + 1 came."""

    def __init__(self, canvas, loads=lambda i: True):
        self.canvas, self.loads = canvas, loads
        self.image, self.pending, self.received, self.painted = None, None, 0, 0
        canvas.send_binary = self.receive               # what the figure manager calls
        canvas._handle_message(canvas, {"type": "initialized"}, [])   # the front end is up
        canvas._force_full = True                       # its "refresh" asks for a whole frame
        canvas.draw()
        self.settle()

    def receive(self, data):
        if self.pending is not None and self.loads(self.received - 1):
            self._paint(*self.pending)
        self.pending = (data, self.canvas._current_image_mode)
        self.received += 1

    def settle(self):
        """No newer frame comes: the last one loads."""
        if self.pending is not None:
            self._paint(*self.pending)
            self.pending = None
        return self.image

    def _paint(self, data, mode):
        frame = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
        if mode == "full" or self.image is None:
            self.image = np.zeros_like(frame)
        shown = frame[..., 3] > 0
        self.image[shown] = frame[shown]
        self.painted += 1


def fresh_render(pg):
    """A new playground in the same state, drawn in full: what the browser must show."""
    return np.asarray(Playground(**pg.settings()).fig.canvas.buffer_rgba()).copy()


def ghost_scenario(pg, browser):
    """A fast drag of η (two frames of three skipped by the browser), then a surface change and
    an optimizer change; after each, the picture the browser settles on and a fresh render."""
    seen = []
    for lr in np.geomspace(0.02, 0.3, 12):
        pg.w_lr.value = lr
    seen.append((browser.settle(), fresh_render(pg)))
    pg.w_surface.value = "rosenbrock"
    pg.w_lr.value = 0.0011
    seen.append((browser.settle(), fresh_render(pg)))
    for name in ("nesterov", "adam"):
        pg.w_optimizer.value = name
        pg.w_lr.value = 0.002
    seen.append((browser.settle(), fresh_render(pg)))
    return seen


def test_the_browser_shows_what_a_fresh_render_shows_even_when_it_skips_frames(figures):
    pg = Playground(update=forgetful_momentum)
    browser = FrontEnd(pg.fig.canvas, loads=lambda i: i % 3 == 0)
    for shown, fresh in ghost_scenario(pg, browser):
        np.testing.assert_array_equal(shown[..., :3], fresh[..., :3])
    assert browser.received - browser.painted >= 8      # frames were really skipped


def test_diff_frames_leave_ghosts_when_the_browser_skips_one(figures, monkeypatch):
    """Why the playground sends whole frames: ipympl's own canvas sends only the changed
    pixels, and the front end above (the same one) keeps stale pixels of a skipped frame."""
    from ipympl.backend_nbagg import Canvas, FigureManager

    monkeypatch.setattr(widgets, "_live_canvas", lambda: (Canvas, FigureManager))
    pg = Playground(update=forgetful_momentum)
    browser = FrontEnd(pg.fig.canvas, loads=lambda i: i % 3 == 0)
    ghosts = [(shown[..., :3] != fresh[..., :3]).any(axis=-1).sum()
              for shown, fresh in ghost_scenario(pg, browser)]
    assert min(ghosts) > 500                           # pixels of old paths, curves, markers


def test_the_frames_are_whole_pngs_of_the_canvas(figures):
    pg = Playground()
    browser = FrontEnd(pg.fig.canvas)
    pg.w_lr.value = 0.1
    browser.settle()
    assert pg.fig.canvas._current_image_mode == "full"
    np.testing.assert_array_equal(browser.image[..., :3], pixels(pg)[..., :3])
    for shape in [(1, 1), (7, 3), (340, 1000)]:        # the encoder against PIL's decoder
        rgba = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 4), dtype=np.uint8)
        decoded = np.asarray(Image.open(io.BytesIO(widgets._png(rgba))))
        np.testing.assert_array_equal(decoded, rgba[..., :3])


def test_the_widgets_leave_pyplot_and_the_backend_alone_and_fit_the_page(figures):
    from gradlab.widgets import TrainingPanel

    backend = matplotlib.get_backend()
    pg, panel = Playground(), TrainingPanel()
    assert plt.get_fignums() == [] and matplotlib.get_backend() == backend
    for fig in (pg.fig, panel.fig):
        width, height = fig.canvas.get_width_height()
        assert width <= 1000 and fig.canvas.resizable is False
    bundle = pg.fig.canvas._repr_mimebundle_()      # a viewer without a kernel sees a picture
    assert "image/png" in bundle and "application/vnd.jupyter.widget-view+json" in bundle


@pytest.mark.parametrize("backend", ["agg", "module://matplotlib_inline.backend_inline"])
def test_building_a_widget_keeps_the_notebooks_backend(backend):
    """Importing ipympl switches matplotlib to its backend (what ``%matplotlib widget`` does):
    every later ``plt.subplots`` would be a live figure of its full size, clipped by the page.
    A fresh interpreter, as a kernel is: the backend chosen before is the backend after."""
    import subprocess
    import sys

    code = (f"import matplotlib; matplotlib.use({backend!r}); import matplotlib.pyplot as plt\n"
            "from gradlab.widgets import Playground, TrainingPanel\n"
            "Playground(); TrainingPanel()\n"
            "fig = plt.figure(); print(matplotlib.get_backend(), type(fig.canvas).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out[0] == backend and "ipympl" not in out[1]


def snapped(slider, value):
    """The value the browser's log slider shows and sends for ``value``: noUiSlider keeps only
    the points min + k·step of the exponent (ipywidgets' FloatLogSliderView)."""
    x = np.log10(value)
    k = np.round((x - slider.min) / slider.step)
    return 10 ** (slider.min + k * slider.step)


def test_the_learning_rate_slider_holds_every_value_the_program_sets(figures):
    pg = Playground(lr=0.05)
    assert snapped(pg.w_lr, pg.w_lr.value) == pytest.approx(0.05, rel=1e-12)
    for lr in (0.5, 5.0, 1e-4, 10.0, 0.0123, 0.05):
        widgets._set_log_value(pg.w_lr, lr)
        assert pg.w_lr.value == lr
        assert snapped(pg.w_lr, lr) == pytest.approx(lr, rel=1e-12)
        assert f"{snapped(pg.w_lr, lr):.3g}" == f"{lr:.3g}"
        assert widgets.LR_RANGE[0] - pg.w_lr.step - 1e-9 <= pg.w_lr.min <= widgets.LR_RANGE[0]
    for name in ("momentum", "nesterov", "sgd"):
        for kappa in (3.0, 10.0, 100.0, 1000.0):
            pg.w_optimizer.value, pg.w_condition.value = name, kappa
            pg.use_optimal()
            assert snapped(pg.w_lr, pg.w_lr.value) == pytest.approx(pg.w_lr.value, rel=1e-12)
            assert f"η* = {pg.w_lr.value:.3g}" in pg.message          # the text agrees
            if name != "sgd":
                assert f"β* = {pg.w_momentum.value:.2f}" in pg.message


def test_the_browser_gets_the_slider_grid_before_the_value(figures):
    """Were the value first, the browser would snap it to the old grid and send that back."""
    pg = Playground()
    sent = []
    pg.w_lr.comm.send = lambda data=None, metadata=None, buffers=None: sent.append(data)
    for lr in (0.2309, 0.05, 0.0123):
        sent.clear()
        widgets._set_log_value(pg.w_lr, lr)
        first = next(m["state"] for m in sent if m.get("method") == "update")
        assert list(first) == ["min", "value"] and first["value"] == lr


@pytest.mark.parametrize("name", ["sgd", "momentum", "momentum_velocity", "nesterov"])
@pytest.mark.parametrize("kappa", [10.0, 50.0])
def test_use_optimal_applies_the_methods_own_optimum(figures, name, kappa):
    pg = Playground(optimizer=name, condition=kappa, lr=0.001, momentum=0.0)
    pg.use_optimal()
    method = model.LINEAR_METHODS[name]
    lr, mom = pg.w_lr.value, (pg.w_momentum.value if name != "sgd" else 0.0)
    best = model.optimal_settings(1.0, kappa, method)
    # the applied setting is the method's optimum (β rounded up to the slider's 0.01)
    assert lr == pytest.approx(best["lr"], rel=1e-12)
    assert 0 <= mom - best["momentum"] < 0.01 + 1e-12
    rate = float(model.predicted_rate(lr, mom, (1.0, kappa), method))
    assert rate < best["rate"] + 0.01
    assert pg.reference.diverged_at is None
    assert f"ρ = {rate:.4f}" in pg.message


@pytest.mark.parametrize("name", ["adam", "adagrad", "rmsprop"])
def test_methods_without_linear_theory_get_no_optimum_and_are_told_why(figures, name):
    pg = Playground(optimizer=name, lr=0.01, momentum=0.5)
    assert pg.w_best.disabled
    pg.use_optimal()
    assert pg.w_lr.value == 0.01 and pg.w_momentum.value == 0.5
    label = widgets._optimizer_label(name)
    assert f"no η*, β* for {label}: its step is not linear" in pg.message
    assert pg.w_best.tooltip.startswith(f"no η*, β* for {label}")


def test_without_linear_theory_the_phase_panel_says_so_inside_its_axes(figures):
    pg = Playground(optimizer="adam", surface="rosenbrock", lr=0.01, momentum=0.9)
    pg.fig.canvas.draw()
    renderer = pg.fig.canvas.get_renderer()
    note, axes = pg.phase_note.get_window_extent(renderer), pg.ax_phase.get_window_extent()
    assert "rosenbrock is not a quadratic" in pg.phase_note.get_text().replace("\n", " ")
    assert axes.x0 <= note.x0 and note.x1 <= axes.x1            # off the colour bar
    assert not pg._colorbar.ax.get_visible()
    assert pg.phase_now.get_data() == ([0.01], [0.9])           # where the sliders are
    pg.w_surface.value = "quadratic"                             # Adam's β₁ on the bowl
    assert pg._colorbar.ax.get_visible() and pg.phase_now.get_data() == ([0.01], [0.9])
    assert "Adam's step is not linear" in pg.phase_note.get_text().replace("\n", " ")
    pg.w_optimizer.value = "sgd"                                 # GD: the β = 0 row
    assert pg.phase_now.get_data() == ([0.01], [0.0]) and pg.phase_note.get_text() == ""


def test_an_unfinished_rule_is_named_in_a_sentence_without_a_dangling_colon(figures):
    pg = Playground(update=unfinished_momentum)
    first = pg.message.split("<br>")[0]
    assert first == ("your rule is not implemented yet: replace `raise NotImplementedError()` "
                     "with your code")
    assert pg.errors == []


def test_a_value_change_moves_the_existing_artists_and_makes_no_new_figure(figures):
    pg = Playground()
    fig = pg.fig
    artists = {ax: list(ax.get_children()) for ax in fig.axes}
    line, loss, dot = pg.line_ref, pg.loss_ref, pg.phase_now
    before = pixels(pg)
    for lr, mom in [(0.01, 0.5), (0.12, 0.3), (0.2, 0.0)]:
        pg.w_lr.value = lr
        pg.w_momentum.value = mom
        expected = plain_loop(pg.surface, optim.momentum, pg.start, 100, lr=lr, beta=mom)
        np.testing.assert_allclose(np.column_stack(pg.line_ref.get_data()), expected)
        assert pg.phase_now.get_data()[0][0] == lr
    assert pg.fig is fig and plt.get_fignums() == []
    assert (pg.line_ref, pg.loss_ref, pg.phase_now) == (line, loss, dot)
    assert {ax: list(ax.get_children()) for ax in fig.axes} == artists
    assert pg.blits >= 6 and pg.full_draws == 1 and pg.errors == []
    after = pixels(pg)
    assert (after != before).any()
    # what the layers left on the canvas is what a full redraw of the same state gives
    pg.fig.canvas.draw()
    np.testing.assert_array_equal(pixels(pg), after)


def test_an_optimizer_change_repaints_the_method_layer_not_the_frame(figures):
    pg = Playground()
    for name in ("nesterov", "sgd", "adam", "momentum"):
        full, layers = pg.full_draws, pg.layer_draws
        pg.w_optimizer.value = name
        assert pg.full_draws == full and pg.layer_draws == layers + 1
        after = pixels(pg)
        pg.fig.canvas.draw()
        np.testing.assert_array_equal(pixels(pg), after)


def test_going_back_to_a_surface_repaints_its_kept_background(figures):
    pg = Playground()
    for surface in ("rosenbrock", "saddle", "quadratic"):
        pg.w_surface.value = surface
    full = pg.full_draws
    for surface in ("rosenbrock", "saddle", "quadratic", "rosenbrock"):
        pg.w_surface.value = surface
        pg.w_lr.value = 0.001 if surface == "rosenbrock" else 0.03
        after = pixels(pg)
        pg.fig.canvas.draw()                           # the same state drawn in full
        np.testing.assert_array_equal(pixels(pg), after)
    assert pg.full_draws == full


def test_a_value_sent_back_unchanged_costs_no_update(figures):
    pg = Playground(lr=0.05)
    runs = pg.n_updates
    pg.w_lr.value = 0.05 * (1 + 2e-16)          # the browser's echo, rounded in its last bit
    pg.w_momentum.value = 0.9000000000000001
    assert pg.n_updates == runs


def test_changes_from_another_thread_are_drawn_on_the_loop_that_built_the_widget(figures):
    """JupyterLab hands widget messages to a kernel subshell: another thread.  The updates and
    the canvas's own requests must still run on the kernel's loop, one at a time."""
    import asyncio
    import threading

    seen = []

    async def kernel():
        pg = Playground()
        pg.fig.canvas.mpl_connect("draw_event", lambda _: seen.append(threading.current_thread()))
        update = pg._update
        pg._update = lambda: seen.append(threading.current_thread()) or update()

        def subshell():
            for lr in (0.01, 0.02, 0.03):
                pg.w_lr.value = lr
            pg.fig.canvas._handle_message(None, {"type": "draw"}, [])    # the front end asks

        worker = threading.Thread(target=subshell)
        worker.start()
        worker.join()
        assert seen == []                              # nothing ran in the subshell's thread
        await asyncio.sleep(0.05)
        return pg

    pg = asyncio.run(kernel())
    assert len(seen) >= 2 and set(seen) == {threading.main_thread()}
    expected = plain_loop(pg.surface, optim.momentum, pg.start, 100, lr=0.03, beta=0.9)
    np.testing.assert_allclose(np.column_stack(pg.line_ref.get_data()), expected)


def test_a_drag_is_coalesced_latest_value_wins(figures):
    queue = []
    pg = Playground(schedule=queue.append)
    runs = pg.n_updates
    for lr in np.geomspace(0.01, 0.15, 50):         # fifty slider events before the loop runs
        pg.w_lr.value = lr
    assert len(queue) == 1 and pg.n_updates == runs
    queue.pop()()
    assert pg.n_updates == runs + 1
    expected = plain_loop(pg.surface, optim.momentum, pg.start, 100, lr=0.15, beta=0.9)
    np.testing.assert_allclose(np.column_stack(pg.line_ref.get_data()), expected)
    pg.w_lr.value = 0.02                             # the next change schedules again
    assert len(queue) == 1


def test_a_diverging_setting_shows_the_message_and_the_last_finite_point(figures):
    pg = Playground(optimizer="sgd", lr=0.5)
    assert "diverged at step" in pg.message and pg.errors == []
    x, y = pg.line_ref.get_data()
    assert len(x) > 1 and np.all(np.isfinite(x)) and np.all(np.isfinite(y))
    assert pg.mark_end.get_data()[0][0] == x[-1]
    assert "diverged" in pg.text_status.get_text()
    pg.w_lr.value = 0.05                              # and back: the message goes away
    assert "diverged" not in pg.message and len(pg.mark_end.get_data()[0]) == 0


def test_your_rule_is_drawn_and_reported_at_the_step_it_parts(figures):
    pg = Playground(update=forgetful_momentum, lr=0.05, momentum=0.9)
    assert pg.line_yours.get_visible() and pg.comparison.step == 2
    assert "parts from the reference at step 2" in pg.message
    pg.w_momentum.value = 0.0          # without momentum the forgetful rule is plain GD: equal
    assert pg.comparison.step is None and "matches the reference" in pg.message


def test_a_click_on_the_contour_sets_the_start(figures):
    pg = Playground()
    pg.fig.canvas.draw()
    x, y = pg.ax_contour.transData.transform((1.5, -2.0))
    event = MouseEvent("button_press_event", pg.fig.canvas, x, y, button=1)
    pg.fig.canvas.callbacks.process("button_press_event", event)
    np.testing.assert_allclose(pg.start, (1.5, -2.0), atol=1e-6)
    np.testing.assert_allclose(np.column_stack(pg.line_ref.get_data())[0], pg.start)
    pg.w_condition.value = 20.0                     # same surface, new κ: the start stays
    np.testing.assert_allclose(pg.start, (1.5, -2.0), atol=1e-6)
    pg.w_surface.value = "saddle"                   # another surface starts at its own start
    np.testing.assert_array_equal(pg.start, pg.surface.start)


def test_every_surface_and_optimizer_draws_without_error(figures):
    pg = Playground()
    for surface in model.SURFACES:
        pg.w_surface.value = surface
        for name in optim.OPTIMIZERS:
            pg.w_optimizer.value = name
            assert pg.errors == [] and pg.reference.n >= 1
        pg.w_optimizer.value = "sgd"
        pg.w_lr.value = 10.0                          # the largest rate: diverges, drawn
        assert pg.errors == [] and "diverged" in pg.message
        pg.w_lr.value = 0.001
    assert plt.get_fignums() == []


@pytest.mark.slow
def test_a_notebook_run_without_a_front_end_keeps_a_static_figure(tmp_path):
    """nbconvert / grading: no browser, no `%matplotlib widget`; the widgets build and the
    output holds a PNG of the figure next to the live view."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import matplotlib.pyplot as plt"),
                nbformat.v4.new_code_cell("from gradlab.widgets import Playground\n"
                                          "pg = Playground(optimizer='sgd', lr=0.5)\npg"),
                nbformat.v4.new_code_cell("print(pg.errors, 'diverged' in pg.message)"),
                # the live panel trains from a task on the kernel's loop: the next cells run
                # while it trains (the kernel answers), and it goes on between them
                nbformat.v4.new_code_cell("from gradlab.widgets import TrainingPanel\n"
                                          "panel = TrainingPanel(chunk=5)\npanel.start()\n"
                                          "panel"),
                nbformat.v4.new_code_cell("import asyncio\nseen = []\n"
                                          "while panel.steps < 40:\n"
                                          "    seen.append(panel.steps)\n"
                                          "    await asyncio.sleep(0.05)\n"
                                          "panel.pause()\n"
                                          "print(len(set(seen)) > 1, panel.running, panel.errors)")]
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    bundles = [o.data for o in outputs if o.output_type == "display_data"]
    assert any("image/png" in b and "application/vnd.jupyter.widget-view+json" in b
               for b in bundles)
    assert nb.cells[2].outputs[0].text.strip() == "[] True"
    assert nb.cells[4].outputs[-1].text.strip() == "True False []"


# ---------------------------------------------------------------------------------------------
# the live training panel
# ---------------------------------------------------------------------------------------------

def test_a_learning_rate_change_mid_training_keeps_the_accumulators(figures):
    from gradlab.widgets import TrainingPanel

    panel = TrainingPanel(optimizer="momentum", lr=0.02, momentum=0.9, chunk=5)
    panel.train(7)
    opt, net = panel.opt, panel.net
    assert panel.steps == 7 and opt.steps["W1"] == 7
    velocity = {k: s["v"].copy() for k, s in opt.state.items()}
    assert all(np.abs(v).sum() > 0 for v in velocity.values())
    panel.w_lr.value = 0.2                            # the slider moves mid-training
    panel.w_momentum.value = 0.5
    assert opt.hyper == {"lr": pytest.approx(0.2), "beta": 0.5}
    # the next mini-batch, by hand: deck 000's momentum continuing from the kept velocity
    idx = panel.next_batch_indices()
    _, grads = net.loss_and_grads(panel.X_train[idx], panel.y_train[idx])
    W1, b2 = net.W[0].copy(), net.b[1].copy()
    panel.train(1)
    v_W1 = 0.5 * velocity["W1"] + grads[0][0]
    v_b2 = 0.5 * velocity["b2"] + grads[1][1]
    np.testing.assert_allclose(net.W[0], W1 - 0.2 * v_W1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(net.b[1], b2 - 0.2 * v_b2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(opt.state["W1"]["v"], v_W1, rtol=1e-12)
    assert panel.steps == 8


def test_the_panel_trains_in_chunks_on_the_event_loop_and_the_curves_grow(figures):
    import asyncio

    from gradlab.widgets import TrainingPanel

    panel = TrainingPanel(optimizer="adam", lr=0.005, chunk=5)
    figs, line = plt.get_fignums(), panel.line_test_acc
    ticks = []

    async def scenario():
        task = panel.start()
        assert panel.running and panel.w_run.value
        while panel.steps < 60:                       # another coroutine runs meanwhile
            ticks.append(panel.steps)
            await asyncio.sleep(0)
        panel.pause()
        await task

    asyncio.run(scenario())
    assert not panel.running and panel.errors == []
    # the kernel's loop got control between chunks, not once at the end
    assert len(set(ticks)) >= 60 // 5 - 1
    h = panel.history
    assert h["step"][0] == 0 and h["step"][-1] == panel.steps >= 60
    assert np.all(np.diff(h["step"]) > 0)
    assert h["test_accuracy"][-1] > h["test_accuracy"][0] + 0.3
    np.testing.assert_array_equal(panel.line_test_acc.get_data()[1], h["test_accuracy"])
    assert plt.get_fignums() == figs and panel.line_test_acc is line
    panel.reset()
    assert panel.opt.state == {} and panel.steps == 0 and len(h["step"]) == 1
