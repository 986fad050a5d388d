"""Real-browser harness: a JupyterLab server on loopback and Debian's Chromium driven by Playwright.

Plain functions and context managers (no pytest here), shared by the browser tests
(``tests/browser/conftest.py`` wraps them into fixtures) and by ``bench/bench_widget.py``.

* :func:`jupyter_lab` starts ``jupyter lab`` on a free 127.0.0.1 port with a token, serving a
  given folder, with throw-away settings/workspaces/runtime directories (no news pop-ups, no
  restored layouts) and the app object exposed to the page (``window.jupyterapp``), so tests
  can run JupyterLab commands the way the menus do.
* :func:`launch_chromium` launches ``/usr/bin/chromium`` (Debian's package; Playwright's own
  browser downloads are never used) headless, sandbox off (we run as root), no network
  side-traffic.
* :func:`open_notebook`, :func:`run_all`, :func:`wait_for_text`, :func:`watch_pixels` are the
  page-side helpers.
* :func:`make_venv` and :func:`pip_install` make a student's environment from a bundle's wheel.

Why a browser is missing is explained by :func:`browser_problem`; the tests turn that into a
skip, or a failure when ``CI=true``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = os.environ.get("GRADLAB_CHROMIUM", "/usr/bin/chromium")
#: Flags for a quiet, deterministic headless Chromium on a build machine.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--disable-dev-shm-usage"]
TOKEN = "gradlab-browser-test"
REPO = Path(__file__).resolve().parents[2]
#: the students' settings as ``make lab`` gives them (JUPYTER_CONFIG_PATH): what the library's
#: wheel installs for students (with the nbgrader_config.py of Validate)
STUDENT_CONFIG = str(REPO / "lib" / "jupyter-config")

# JupyterLab settings for a test run: no news / update checks (they would call the internet and
# pop up a toast over the notebook).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}


def browser_problem() -> str | None:
    """Why the real-browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ("the Python package 'playwright' is not installed "
                "(run `make test`, or .venv/bin/pip install playwright)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (f"no Chromium at {CHROMIUM} (run `make test` as root, or "
                f"`sudo apt-get install chromium`; GRADLAB_CHROMIUM names another binary)")
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: its base URL, token, served folder and server process."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen
    log: Path

    def api(self, path: str):
        """GET a JSON REST endpoint of the server (e.g. "/api/kernels")."""
        request = urllib.request.Request(self.url + path,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def tree_url(self, path: str) -> str:
        """The page that opens ``path`` (relative to the served folder) in a fresh layout."""
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"

    def server_log(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]


@contextlib.contextmanager
def jupyter_lab(root: Path, timeout: float = 180.0, python: str | None = None,
                config_path: Path | str | None = None, cwd: Path | None = None):
    """Serve ``root`` with JupyterLab on a free loopback port; yields a :class:`Lab`.

    The server is this interpreter's ``jupyter lab`` (the kernels are this environment's
    python3).  Its output goes to a log file, shown in the error if it does not come up.
    ``config_path`` is a settings folder (or several, joined by ``os.pathsep``) given as
    ``JUPYTER_CONFIG_PATH``, as ``make lab`` gives :data:`STUDENT_CONFIG`; ``cwd`` the folder
    the server starts in (``make lab-instructor`` starts in the grading workspace, where
    nbgrader finds its ``nbgrader_config.py``).
    """
    root = Path(root).resolve()
    home = Path(tempfile.mkdtemp(prefix="gradlab-lab-"))
    settings = home / "settings"
    for name, values in LAB_SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    port = free_port()
    bindir = Path(python or sys.executable).parent
    cmd = [str(bindir / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={TOKEN}",
           "--ServerApp.port_retries=0", "--LabApp.expose_app_in_browser=True",
           "--ServerApp.open_browser=False"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("MPLBACKEND", None)            # the kernel chooses its backend (inline)
    if config_path is not None:
        env["JUPYTER_CONFIG_PATH"] = str(config_path)
    log = home / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    lab = Lab(url=f"http://127.0.0.1:{port}", token=TOKEN, root=root, process=process, log=log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                lab.api("/api/status")
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("jupyter lab exited during start-up:\n" + lab.server_log()) from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n"
                                       + lab.server_log()) from None
                time.sleep(0.3)
        yield lab
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(home, ignore_errors=True)


def make_venv(folder: Path) -> Path:
    """A fresh virtual environment in ``folder`` (this Python's version, with pip and nothing
    else), as a student makes one; returns its ``python``."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    return Path(folder) / "bin" / "python"


def pip_install(python: Path, *args: str) -> float:
    """``pip install args`` into ``python``'s environment with this machine's pip settings (its
    package index and warm cache), as INSTALL.txt says; returns the seconds it took."""
    start = time.perf_counter()
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"pip install {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


@contextlib.contextmanager
def launch_chromium(playwright=None):
    """Debian's Chromium through Playwright (never Playwright's downloaded browsers)."""
    from playwright.sync_api import sync_playwright

    with contextlib.ExitStack() as stack:
        if playwright is None:
            playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        stack.callback(browser.close)
        yield browser


def watch_errors(page):
    """Collect the page's uncaught exceptions and console errors into ``page.errors_seen``."""
    seen = []

    def on_console(msg):
        if msg.type == "error":
            seen.append(f"console: {msg.text}")

    page.on("pageerror", lambda exc: seen.append(f"pageerror: {exc}"))
    page.on("console", on_console)
    return seen


def open_notebook(page, lab: Lab, path: str, timeout: float = 180.0):
    """Open ``path`` in JupyterLab and wait until its kernel is idle."""
    page.goto(lab.tree_url(path))
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           ".kernel && window.jupyterapp.shell.currentWidget.sessionContext"
                           ".session.kernel.status === 'idle'", timeout=timeout * 1000)


def command(page, name: str, args: dict | None = None):
    """Run a JupyterLab command (what a menu item does), e.g. "notebook:run-all-cells"."""
    page.evaluate("([name, args]) => window.jupyterapp.commands.execute(name, args)",
                  [name, args or {}])


def run_all(page):
    command(page, "notebook:run-all-cells")


def run_cell(page, index: int):
    """Select cell ``index`` of the current notebook and run it."""
    page.evaluate("(i) => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = i; }",
                  index)
    command(page, "notebook:run-cell")


def wait_for_text(page, text: str, timeout: float = 90.0):
    """Wait until some output area shows ``text``; returns that output's full text."""
    locator = page.locator(".jp-OutputArea-output", has_text=text).last
    locator.wait_for(timeout=timeout * 1000)
    return locator.inner_text()


def stderr_outputs(page):
    """Texts of every stderr / error output in the open notebook."""
    return page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                        ).all_inner_texts()


# Page-side pixel watcher: records the time of the last keydown (the input) and resolves with
# the milliseconds until the canvas's pixels differ from what they were at that moment.
_WATCH_JS = """
([selector, timeoutMs]) => {
  const canvas = document.querySelector(selector);
  if (!canvas) throw new Error('no canvas matches ' + selector);
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const snap = () => new Uint32Array(ctx.getImageData(0, 0, canvas.width, canvas.height).data.buffer);
  const before = snap();
  window.__gradlab_t0 = null;
  if (!window.__gradlab_keys) {
    window.__gradlab_keys = true;
    document.addEventListener('keydown', () => { window.__gradlab_t0 = performance.now(); }, true);
  }
  window.__gradlab_change = new Promise((resolve) => {
    const start = performance.now();
    const tick = () => {
      const now = snap();
      let changed = now.length !== before.length;
      for (let i = 0; !changed && i < now.length; i++) if (now[i] !== before[i]) changed = true;
      if (changed && window.__gradlab_t0 !== null) {
        resolve(performance.now() - window.__gradlab_t0);
      } else if (performance.now() - start > timeoutMs) {
        resolve(null);
      } else {
        requestAnimationFrame(tick);
      }
    };
    requestAnimationFrame(tick);
  });
  return before.length;
}
"""

FIGURE_CANVAS = ".jupyter-matplotlib-canvas-div canvas"


def watch_pixels(page, selector: str = FIGURE_CANVAS, timeout: float = 10.0):
    """Arm the watcher on the (first) canvas matching ``selector``; then send the input and
    call :func:`pixels_changed`."""
    page.evaluate(_WATCH_JS, [selector, timeout * 1000])


def pixels_changed(page):
    """Milliseconds from the last keydown to the first frame whose pixels differ (None: none)."""
    return page.evaluate("() => window.__gradlab_change")


def slider_handle(page, description: str):
    """The handle of the ipywidgets slider whose label is ``description``."""
    slider = page.locator(".widget-slider", has=page.locator(".widget-label",
                                                             has_text=description)).first
    return slider.locator(".noUi-handle").first


def wait_for_stable_canvas(page, selector: str = FIGURE_CANVAS, quiet: float = 0.6,
                           timeout: float = 90.0):
    """Wait until the canvas shows something (not one flat colour) and has not changed for
    ``quiet`` seconds: the figure is drawn and no update is still on its way."""
    page.wait_for_function(
        """([selector, quietMs]) => {
             const c = document.querySelector(selector);
             if (!c || !c.width) return false;
             const d = new Uint32Array(c.getContext('2d', {willReadFrequently: true})
                                        .getImageData(0, 0, c.width, c.height).data.buffer);
             let h = 0, flat = true;
             for (let i = 0; i < d.length; i++) { h = (h * 31 + d[i]) | 0; if (d[i] !== d[0]) flat = false; }
             const now = performance.now();
             if (flat || window.__gradlab_hash !== h) {
               window.__gradlab_hash = h; window.__gradlab_since = now; return false;
             }
             return now - window.__gradlab_since >= quietMs;
           }""", arg=[selector, quiet * 1000], polling=100, timeout=timeout * 1000)


#: The cells of the playground notebook, by what they do (indices for :func:`run_cell`).
PLAYGROUND_CELLS = {"static": 0, "playground": 1, "status": 2, "fresh": 3}


def write_playground_notebook(folder: Path, name: str = "playground.ipynb") -> Path:
    """The playground notebook the browser test and the benchmark drive.

    Cells (see :data:`PLAYGROUND_CELLS`): a static figure wider than the page (it must still
    fit after the playground; ``STATIC-FIGURE`` and a counter), the playground, a status cell printing one line
    (``PLAYGROUND-STATUS errors=… updates=…``) and the kernel's update times in ms
    (``PLAYGROUND-TIMES …``), and a cell that renders the playground's current state afresh
    into ``fresh.png`` beside the notebook (``FRESH-RENDER`` and a counter when done).
    """
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\n"
                                  "fig, ax = plt.subplots(figsize=(14, 3))\n"
                                  "ax.plot([0, 1], [0, 1])\n"
                                  "ax.set_title('a static figure 1400 pixels wide')\n"
                                  "plt.show()\n"
                                  "statics = globals().get('statics', 0) + 1\n"
                                  "print(f'STATIC-FIGURE {statics}')"),
        nbformat.v4.new_code_cell("from gradlab.widgets import Playground\n"
                                  "pg = Playground()\npg"),
        nbformat.v4.new_code_cell(
            "import numpy as np\n"
            "ms = np.asarray(pg.update_seconds) * 1e3\n"
            "q = np.percentile(ms, [50, 95]) if ms.size else [np.nan, np.nan]\n"
            "statuses = globals().get('statuses', 0) + 1     # a new line each run\n"
            "print(f'PLAYGROUND-STATUS run={statuses} errors={len(pg.errors)} '\n"
            "      f'updates={pg.n_updates} '\n"
            "      f'blits={pg.blits} layers={pg.layer_draws} full={pg.full_draws} '\n"
            "      f'lr={pg.w_lr.value:.6g} p50={q[0]:.2f} p95={q[1]:.2f}')\n"
            "print('PLAYGROUND-TIMES', ' '.join(f'{t:.2f}' for t in ms))"),
        nbformat.v4.new_code_cell(
            "from PIL import Image\n"
            "fresh = Playground(**pg.settings())\n"
            "Image.fromarray(np.asarray(fresh.fig.canvas.buffer_rgba())).save('fresh.png')\n"
            "renders = globals().get('renders', 0) + 1\n"
            "print(f'FRESH-RENDER {renders}')\n"
            "print('FRESH-STATE', pg.w_optimizer.label, '|', pg.w_surface.value, '|', "
            "f'{pg.w_lr.value:.3g}', '|', f'{pg.w_momentum.value:.2f}')"),
    ]
    path = Path(folder) / name
    nbformat.write(nb, path)
    return path


def playground_status(text: str) -> dict:
    """The fields of a ``PLAYGROUND-STATUS`` line as a dict of numbers, and the kernel's
    update times (``PLAYGROUND-TIMES``, ms) under "times"."""
    lines = text.splitlines()
    line = next(l for l in lines if l.startswith("PLAYGROUND-STATUS"))
    status = {k: float(v) for k, v in (item.split("=") for item in line.split()[1:])}
    times = next((l for l in lines if l.startswith("PLAYGROUND-TIMES")), "PLAYGROUND-TIMES")
    status["times"] = [float(t) for t in times.split()[1:]]
    return status


def rerun_marked(page, index: int, marker: str, timeout: float = 60.0) -> str:
    """Run cell ``index`` again and wait for its new output holding ``marker``; return it."""
    before = page.evaluate(
        "(m) => [...document.querySelectorAll('.jp-OutputArea-output')]"
        ".filter(e => e.innerText.includes(m)).map(e => e.innerText).join('\\n')", marker)
    run_cell(page, index)
    page.wait_for_function(
        "([m, before]) => { const now = [...document.querySelectorAll('.jp-OutputArea-output')]"
        ".filter(e => e.innerText.includes(m)).map(e => e.innerText).join('\\n');"
        " return now && now !== before; }", arg=[marker, before], timeout=timeout * 1000)
    return wait_for_text(page, marker)


def rerun_status(page, timeout: float = 60.0) -> dict:
    """Run the playground notebook's status cell again and return its fresh numbers."""
    return playground_status(rerun_marked(page, PLAYGROUND_CELLS["status"],
                                          "PLAYGROUND-STATUS", timeout))


def canvas_pixels(page, selector: str = FIGURE_CANVAS):
    """The (first) figure canvas's pixels as the page shows them: an (h, w, 4) uint8 array."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    url = page.evaluate("(s) => document.querySelector(s).toDataURL('image/png')", selector)
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def fresh_render(page, lab: Lab):
    """The kernel renders the playground's current state afresh (a new figure, drawn in
    full).  Returns its pixels, an (h, w, 4) uint8 array, and the state it rendered as the
    controls on the page show it (see :func:`controls_state`)."""
    import numpy as np
    from PIL import Image

    text = rerun_marked(page, PLAYGROUND_CELLS["fresh"], "FRESH-RENDER")
    line = next(l for l in text.splitlines() if l.startswith("FRESH-STATE"))
    state = tuple(part.strip() for part in line[len("FRESH-STATE"):].split("|"))
    return np.asarray(Image.open(lab.root / "fresh.png").convert("RGBA")), state


def controls_state(page) -> tuple:
    """What the playground's controls on the page show: optimizer, surface, η, β."""
    chosen = "(s) => s.options[s.selectedIndex].text.replace(/\\u00a0/g, ' ')"  # ipywidgets: nbsp
    return (dropdown(page, "optimizer").evaluate(chosen), dropdown(page, "surface").evaluate(chosen),
            readout(page, "learning rate"), readout(page, "momentum"))


def dropdown(page, description: str):
    """The ``<select>`` of the ipywidgets Dropdown whose label is ``description``."""
    return page.locator(".widget-dropdown", has=page.locator(".widget-label",
                                                             has_text=description)).first \
        .locator("select")


def readout(page, description: str) -> str:
    """The text a slider shows beside it (its readout)."""
    slider = page.locator(".widget-slider", has=page.locator(".widget-label",
                                                             has_text=description)).first
    return slider.locator(".widget-readout").inner_text()


def drag_handle(page, handle, dx_total: float, moves: int):
    """Drag a slider handle by ``dx_total`` pixels in ``moves`` mouse moves sent back to back."""
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, moves + 1):
        page.mouse.move(x + dx_total * i / moves, y)
    page.mouse.up()
