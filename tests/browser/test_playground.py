"""The optimizer playground in a real JupyterLab, driven by Debian's Chromium.

Runs the playground notebook, moves the learning-rate slider with the keyboard (real input
events), and checks what a student would see: the figure's pixels change after each move, the
kernel took the updates without an error, and neither the page nor the notebook shows one.
A screenshot of the notebook after the moves is kept in tests/browser/artifacts/.
"""

from __future__ import annotations

import pytest

from browser import harness

pytestmark = pytest.mark.browser


def test_moving_the_learning_rate_slider_redraws_the_figure(lab, page, artifacts):
    harness.write_playground_notebook(lab.root)
    harness.open_notebook(page, lab, "playground.ipynb")
    harness.run_all(page)
    first = harness.playground_status(harness.wait_for_text(page, "PLAYGROUND-STATUS"))
    assert first["errors"] == 0
    harness.wait_for_stable_canvas(page)
    page.screenshot(path=str(artifacts / "playground-before.png"), full_page=True)

    handle = harness.slider_handle(page, "learning rate")
    handle.focus()
    delays = []
    for _ in range(4):                                 # four single steps to the right
        harness.watch_pixels(page)
        page.keyboard.press("ArrowRight")
        delays.append(harness.pixels_changed(page))
        harness.wait_for_stable_canvas(page, quiet=0.3)
    assert all(d is not None for d in delays), f"no pixel change after some moves: {delays}"

    # the kernel side: the updates arrived, coalesced, without an error; lr moved right
    after = harness.rerun_status(page)
    assert after["errors"] == 0
    assert after["updates"] > first["updates"] and after["lr"] > first["lr"]
    assert after["blits"] >= 1                      # η moves are blitted, not redrawn in full

    shot = artifacts / "playground-after.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}  input-to-pixels ms: {[round(d) for d in delays]}")
    assert harness.stderr_outputs(page) == []
    assert page.errors_seen == []
    kernels = lab.api("/api/kernels")
    assert kernels and all(k["execution_state"] != "dead" for k in kernels)
