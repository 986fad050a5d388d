"""Importing the grader changes nothing: PATH and the warnings filters are as they were."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO

PROBE = """
import importlib, json, os, pkgutil, sys, warnings
# the libraries the grader stands on may set their own state; load them first
import nbformat, nbclient, traitlets, tqdm.auto, nbgrader.apps, nbgrader.api, nbgrader.coursedir
import nbgrader.preprocessors, nbgrader.plugins, nbgrader.utils, numpy
before = (os.environ["PATH"], [repr(f) for f in warnings.filters])
import gradlab_grader
names = [m.name for m in pkgutil.walk_packages(gradlab_grader.__path__, "gradlab_grader.")]
for name in names:
    importlib.import_module(name)
after = (os.environ["PATH"], [repr(f) for f in warnings.filters])
print(json.dumps({"modules": names, "before": before, "after": after}))
"""


def test_importing_any_grader_module_has_no_side_effects(tmp_path):
    # a PATH without this interpreter's folder: the grader must not add it at import time
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    seen = json.loads(out)
    assert {"gradlab_grader.cli", "gradlab_grader.pipeline", "gradlab_grader.workspace",
            "gradlab_grader.mistakes"} <= set(seen["modules"])
    assert seen["after"][0] == seen["before"][0] == "/usr/bin:/bin"
    assert seen["after"][1] == seen["before"][1]


def test_the_grader_mentions_no_course():
    """The grader knows nothing about any one course: no assignment id in its code."""
    assignments = [p.name for p in (REPO / "solutions").iterdir() if p.is_dir()]
    for path in (REPO / "autograder").rglob("*.py"):
        text = path.read_text()
        assert not [a for a in assignments if a in text], path
