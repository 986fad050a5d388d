"""What installing costs a student against an instructor: the two distributions of the repository.

    student      pip install gradlab-<v>-py3-none-any.whl          (the wheel in every bundle)
    instructor   pip install gradlab-<v>-… gradlab_grader-<v>-…     (the grader and its library)

Each goes into a fresh virtual environment that already has JupyterLab (a student's starting
point), with this machine's pip settings and warm cache, as INSTALL.txt says.  Printed side by
side: the seconds ``pip install`` takes, the megabytes and packages it adds, the environment's
size, whether it changed setuptools, and which of the grader's heavy dependencies it brought.
One run each: an install takes tens of seconds, and ``--quick`` changes nothing.

    python bench/bench_install.py [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from browser import harness  # noqa: E402

from gradlab_grader import bundle  # noqa: E402

# what the grader's wheel is built from (the library's: bundle.PACKAGE_SOURCES inside lib/)
GRADER_SOURCES = ("pyproject.toml", "README.md", "autograder", "lab/instructor")
GRADER_ONLY = ("dask", "distributed", "psycopg2-binary")
HEAVY = (*GRADER_ONLY, "sqlalchemy", "alembic")   # the last two come with nbgrader (Validate needs it)


def installed(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                         capture_output=True, text=True, check=True).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def measure(folder: Path, wheels: list[Path]) -> dict:
    """Install ``wheels`` into a fresh environment with JupyterLab; what it took and brought."""
    python = harness.make_venv(folder)
    harness.pip_install(python, "jupyterlab")
    before, size = installed(python), megabytes(folder)
    seconds = harness.pip_install(python, *map(str, wheels))
    after = installed(python)
    return {"seconds": seconds, "added MB": megabytes(folder) - size, "env MB": megabytes(folder),
            "packages added": len(set(after) - set(before)),
            "setuptools": "kept" if before.get("setuptools") == after.get("setuptools")
            else f"{before.get('setuptools')} -> {after.get('setuptools')}",
            "heavy": ", ".join(h for h in HEAVY if h in after) or "none",
            "gradlab command": "yes" if (python.parent / "gradlab").exists() else "no"}


def main(argv) -> int:
    with tempfile.TemporaryDirectory(prefix="gradlab-bench-install-") as tmp:
        tmp = Path(tmp)
        wheels = {}
        for key, tree, sources in [("library", REPO / "lib", bundle.PACKAGE_SOURCES), ("grader", REPO, GRADER_SOURCES)]:
            name, data = bundle.wheel_of(tree, sources)
            wheels[key] = tmp / name
            wheels[key].write_bytes(data)
        results = {"student": measure(tmp / "student", [wheels["library"]]),
                   "instructor": measure(tmp / "instructor", [wheels["library"], wheels["grader"]])}
    print("pip install into a fresh environment with JupyterLab, warm cache (2 cores shared: one run each)")
    print(f"{'':<18}{'student':>22}{'instructor':>34}")
    for row in results["student"]:
        cells = [results[who][row] for who in ("student", "instructor")]
        shown = [f"{c:.1f}" if isinstance(c, float) else str(c) for c in cells]
        print(f"{row:<18}{shown[0]:>22}{shown[1]:>34}")
    leaked = [h for h in GRADER_ONLY if h in results["student"]["heavy"].split(", ")]
    if leaked or results["student"]["gradlab command"] == "yes":
        print(f"the student's install brought the grader's: {leaked or 'the gradlab command'}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
