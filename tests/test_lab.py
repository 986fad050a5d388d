"""`make lab`: JupyterLab serves course/ with the nbgrader, widgets and ipympl extensions loaded."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO

TOKEN = "gradlab-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    port = _free_port()
    home = tmp_path_factory.mktemp("home")
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", f"--ServerApp.root_dir={REPO / 'course'}",
           f"--IdentityProvider.token={TOKEN}", "--allow-root"]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                get(base, "/api/status")
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("jupyter lab exited: " + server.stdout.read().decode()[-2000:])
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer within 60 s")
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def get(base: str, path: str):
    request = urllib.request.Request(base + path, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_lab_serves_the_student_release(lab):
    listing = {item["name"] for item in get(lab, "/api/contents")["content"]}
    assert "01_derivatives" in listing
    nb = get(lab, "/api/contents/01_derivatives/01_derivatives.ipynb?content=1")["content"]
    cells = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert cells and all("NotImplementedError" in c["source"] for c in cells)


def test_lab_loads_the_course_extensions(lab):
    # the extension manager lists packages by normalised name (@jupyter/nbgrader -> jupyter-nbgrader)
    enabled = {ext["name"] for ext in get(lab, "/lab/api/extensions") if ext.get("enabled")}
    assert {"jupyter-nbgrader", "jupyter-widgets-jupyterlab-manager", "jupyter-matplotlib"} <= enabled
