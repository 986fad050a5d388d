"""The optimizer playground in a real JupyterLab, driven by Debian's Chromium.

What a student would see, with real input events:

* a fast drag of the learning-rate slider, a surface change and an optimizer change: after
  each, the figure on the page is pixel for pixel a fresh render of the same state made by
  the kernel (no ghosts of earlier trajectories, loss curves or markers);
* the learning-rate readout shows 0.05 for 0.05, and after "use η*, β*" the value the text
  names;
* the optimizer menu's labels fit in it;
* a static figure wider than the page fits the output area, also when its cell is run again
  after the playground (the playground does not switch matplotlib's backend);
* no error on the page, in the notebook or in the kernel.

Timings are printed, never asserted (bench/bench_widget.py measures them).  Screenshots are
kept in tests/browser/artifacts/.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from PIL import Image

from browser import harness

pytestmark = pytest.mark.browser

STATIC_WIDTH_JS = """(index) => {
  const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
  const area = cell.node.querySelector('.jp-OutputArea-output');
  const img = area && area.querySelector('img');
  return {img: !!img, live: !!area.querySelector('.jupyter-matplotlib'),
          width: img ? img.getBoundingClientRect().width : null,
          area: area ? area.getBoundingClientRect().width : null};
}"""

# every option's text, drawn in the select's own font, against the room the select gives it
OPTION_FIT_JS = """(select) => {
  const style = getComputedStyle(select);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = style.font;
  const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return [...select.options].map(o => [o.text, ctx.measureText(o.text).width, room]);
}"""


def assert_shows_a_fresh_render(page, lab, what, artifacts, timeout=60.0):
    """The canvas on the page equals a fresh render of the state the controls show.

    The kernel may still be working through the input (ipywidgets holds a value back while the
    kernel is busy; the browser's slider sends a value back), and the canvas may still be
    decoding the last frame: the kernel renders afresh and the canvas is read again until they
    agree or ``timeout`` passes.  A ghost never goes away, so waiting cannot hide one."""
    deadline = time.monotonic() + timeout
    while True:
        fresh, state = harness.fresh_render(page, lab)
        shown = harness.canvas_pixels(page)
        agree = state == harness.controls_state(page)
        differ = (np.ones(1, bool) if shown.shape != fresh.shape
                  else np.any(shown[..., :3] != fresh[..., :3], axis=-1))
        if (agree and not differ.any()) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    if differ.any():
        page.screenshot(path=str(artifacts / f"playground-{what}.png"), full_page=True)
        for name, image in (("canvas", shown), ("fresh", fresh)):
            Image.fromarray(image).save(artifacts / f"playground-{what}-{name}.png")
    assert agree, f"after {what}: the kernel never got to what the page shows"
    assert shown.shape == fresh.shape, f"after {what}: canvas {shown.shape}, figure {fresh.shape}"
    assert differ.sum() == 0, (f"after {what}: {differ.sum()} pixels differ from a fresh render "
                               f"of the same state (rows {np.flatnonzero(differ.any(1))[[0, -1]]})")


def static_figure_fits(page):
    found = page.evaluate(STATIC_WIDTH_JS, harness.PLAYGROUND_CELLS["static"])
    assert found["img"] and not found["live"], found
    assert found["width"] <= found["area"] + 0.5, found


def test_the_playground_draws_right_in_the_browser(lab, page, artifacts):
    harness.write_playground_notebook(lab.root)
    harness.open_notebook(page, lab, "playground.ipynb")
    harness.run_all(page)
    first = harness.playground_status(harness.wait_for_text(page, "PLAYGROUND-STATUS"))
    assert first["errors"] == 0
    harness.wait_for_stable_canvas(page)
    static_figure_fits(page)
    page.screenshot(path=str(artifacts / "playground-before.png"), full_page=True)
    assert harness.readout(page, "learning rate") == "0.05"

    # the menu's labels fit
    for text, width, room in page.evaluate(OPTION_FIT_JS,
                                           harness.dropdown(page, "optimizer").element_handle()):
        assert width <= room, f"the optimizer menu cuts {text!r} ({width:.0f} > {room:.0f} px)"

    # single key presses: each changes the pixels
    handle = harness.slider_handle(page, "learning rate")
    handle.focus()
    delays = []
    for _ in range(3):
        harness.watch_pixels(page)
        page.keyboard.press("ArrowRight")
        delays.append(harness.pixels_changed(page))
        harness.wait_for_stable_canvas(page, quiet=0.3)
    assert all(d is not None for d in delays), f"no pixel change after some moves: {delays}"

    # a fast drag, back to back mouse moves, then a surface and an optimizer change
    harness.drag_handle(page, harness.slider_handle(page, "learning rate"), -60, 40)
    assert_shows_a_fresh_render(page, lab, "a fast drag", artifacts)
    harness.dropdown(page, "surface").select_option(label="rosenbrock")
    assert_shows_a_fresh_render(page, lab, "a surface change", artifacts)
    harness.dropdown(page, "surface").select_option(label="quadratic")
    harness.dropdown(page, "optimizer").select_option(label="Nesterov")
    assert_shows_a_fresh_render(page, lab, "an optimizer change", artifacts)

    # "use η*, β*": the slider shows the η* the text names (Nesterov's own optimum)
    page.locator("button", has_text="use η*").click()
    assert_shows_a_fresh_render(page, lab, "the optimum button", artifacts)
    text = harness.wait_for_text(page, "best for Nesterov")
    named = re.search(r"η\* = ([0-9.e-]+)", text).group(1)
    assert harness.readout(page, "learning rate") == named

    # the kernel: no error, the moves were blitted (few full draws); pyplot's backend untouched
    after = harness.rerun_status(page)
    assert after["errors"] == 0 and after["updates"] > first["updates"]
    assert after["blits"] >= 3 and after["full"] <= first["full"] + 3   # surface: 2 frames
    harness.rerun_marked(page, harness.PLAYGROUND_CELLS["static"], "STATIC-FIGURE")
    static_figure_fits(page)

    shot = artifacts / "playground-after.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}  key press to pixels, ms: {[round(d) for d in delays]}")
    assert harness.stderr_outputs(page) == []
    assert page.errors_seen == []
    kernels = lab.api("/api/kernels")
    assert kernels and all(k["execution_state"] != "dead" for k in kernels)
