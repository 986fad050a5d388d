"""gradlab reaches into nbgrader in one place that a new nbgrader could break silently: while a
submission is prepared and recorded, the writer swaps ``Gradebook`` in the nbgrader preprocessor
modules that open one (``ledger.NBGRADER_MODULES``) for its own session, so that all of one
submission's gradebook work is one transaction.  A preprocessor module that opens a gradebook and
is missing from that list would open a second connection beside the writer's.  These tests scan
the installed nbgrader's preprocessors (their source, as nbgrader writes them:
``from ..api import Gradebook`` and ``Gradebook(db_url)``, nbgrader/preprocessors/*.py) and
compare them with what gradlab patches, and pin nbgrader below its next minor version."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import nbgrader.preprocessors
from packaging.requirements import Requirement
from traitlets.utils.importstring import import_item

from gradlab_grader import Workspace
from gradlab_grader.recording.ledger import NBGRADER_MODULES

from conftest import REPO

# nbgrader preprocessor modules that open a gradebook and are knowingly left unpatched: gradlab
# never runs them while preparing or recording a submission
NEVER_WHILE_RECORDING = {
    "nbgrader.preprocessors.savecells": "release (GenerateAssignment) writes the source cells, before any submission",
    "nbgrader.preprocessors.getgrades": "feedback (GenerateFeedback) reads the scores after recording",
}

OPENS_GRADEBOOK = re.compile(r"^\s*from \.\.api import .*\bGradebook\b|\bGradebook\(", re.M)


def gradebook_openers() -> set[str]:
    """The installed nbgrader's preprocessor modules whose source opens a gradebook."""
    folder = Path(nbgrader.preprocessors.__file__).parent
    return {f"nbgrader.preprocessors.{path.stem}" for path in folder.glob("*.py")
            if OPENS_GRADEBOOK.search(path.read_text(encoding="utf-8"))}


def recording_modules(tmp_path) -> set[str]:
    """The modules of every preprocessor gradlab runs on a submission (nbgrader's Autograde
    sanitising and autograding steps, as a workspace configures them)."""
    config = Workspace(tmp_path / "ws").config()
    names = [*config.Autograde.sanitize_preprocessors, *config.Autograde.autograde_preprocessors]
    return {(import_item(n) if isinstance(n, str) else n).__module__ for n in names}


def test_the_scan_finds_the_gradebook_openers_it_must():
    # an oracle for the scanner: modules known from nbgrader 0.9's source to open a gradebook
    found = gradebook_openers()
    assert {"nbgrader.preprocessors.saveautogrades", "nbgrader.preprocessors.overwritecells",
            "nbgrader.preprocessors.savecells"} <= found
    assert "nbgrader.preprocessors.clearsolutions" not in found


def test_every_gradebook_opener_is_patched_or_knowingly_left_out():
    openers = gradebook_openers()
    patched, left_out = set(NBGRADER_MODULES), set(NEVER_WHILE_RECORDING)
    assert not patched & left_out
    assert openers <= patched | left_out, (
        f"nbgrader preprocessors that open a gradebook and gradlab neither patches "
        f"(ledger.NBGRADER_MODULES) nor lists here: {sorted(openers - patched - left_out)}")
    assert patched <= openers, f"patched but no longer opening a gradebook: {sorted(patched - openers)}"
    for name in patched:
        assert hasattr(importlib.import_module(name), "Gradebook"), name


def test_the_modules_left_out_never_run_on_a_submission(tmp_path):
    running = recording_modules(tmp_path)
    assert "nbgrader.preprocessors.saveautogrades" in running  # the scan of the config sees nbgrader's steps
    assert not running & set(NEVER_WHILE_RECORDING)
    assert running & gradebook_openers() <= set(NBGRADER_MODULES)


def test_nbgrader_is_pinned_below_its_next_minor_and_the_installed_one_fits():
    grader = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = [Requirement(r.split("#")[0]) for r in grader["dependencies"]]
    (pin,) = [r for r in pins if r.name == "nbgrader"]
    installed = importlib.metadata.version("nbgrader")
    assert pin.specifier.contains(installed), f"nbgrader {installed} is outside {pin.specifier}"
    major, minor = (int(p) for p in installed.split(".")[:2])
    assert not pin.specifier.contains(f"{major}.{minor + 1}.0"), f"{pin} lets in nbgrader {major}.{minor + 1}"
