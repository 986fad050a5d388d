"""The grading workspace: where submissions, the gradebook, feedback and exports live.

A workspace is an ordinary nbgrader course directory kept *outside* the source tree (default
``./grading``), so nothing a student submits ever lands in ``solutions/`` or ``course/``::

    grading/
      nbgrader_config.py     the same settings, for `nbgrader formgrader` and friends
      gradebook.db           nbgrader's SQLite gradebook; or any SQLAlchemy URL (PostgreSQL for a
                             large class), from --db or nbgrader_config.py's db_url
      source/<a>/            a copy of solutions/<a> (without mistakes/), taken at release
      release/<a>/           nbgrader's student version, copied on to course/<a>
      submitted/<s>/<a>/     what students handed in
      autograded/<s>/<a>/    executed and scored copies
      feedback/<s>/<a>/      HTML feedback, hidden tests removed
      rejected/<a>.json      hand-ins collect turned away, with the reason
      lms/<a>.json           an LMS download's unmatched files, the instructor's mapping, notes
      roster.csv             the roster given at collect (lms.read_roster reads it)
      bundles/<a>.zip        the student bundle (release, library wheel, INSTALL.txt)
      ledger/<a>/<s>.json    what grading recorded for each submission, once (see ledger.py)
      exports/               grades.csv and friends
      exchange/              nbgrader's exchange folder (formgrader's Release and Collect)
      reports/<a>.html       the class report
      gradlab.toml           the course's policy, written by the instructor (optional):

        [late]                      # nbgrader's late-penalty plugin, gradlab_grader.recording.latepenalty
        percent_per_day = 10        # of the score, per started day late
        max_percent = 100
        [deadlines]                 # TOML datetimes (UTC without an offset); the gradebook writer
                                    # gives them to the gradebook before it records a grade
        week1 = 2026-11-20T23:59:00Z
"""

from __future__ import annotations

import os
import sys
import sysconfig
import tomllib
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config

from .fileio import write_atomically
from .kernelenv import kernel_arguments


class GradlabError(RuntimeError):
    """A problem the user can fix; the message says what happened and what to do."""


# Per-cell time limit while autograding, in seconds.  The lecture notebooks run each cell in
# well under a second; a minute leaves room for a slow machine but stops an endless loop.
CELL_TIMEOUT = 60


@contextmanager
def nbgrader_calls():
    """What a call into nbgrader needs, set for the call only and restored after it.

    * nbgrader runs ``alembic`` (gradebook migrations) as a command: the one beside this Python
      is put on ``PATH``, so it is found even when the environment was never activated;
    * nbgrader's gradebook trips SQLAlchemy's autoflush warnings on every new submission; they
      are about nbgrader's session handling, not anything an instructor can act on.
    """
    path = os.environ.get("PATH", "")
    bindir = os.path.dirname(sys.executable)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not in session.*")
        if bindir not in path.split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + path
        try:
            yield
        finally:
            os.environ["PATH"] = path


def find_repo(start: Path | None = None) -> Path:
    """The gradlab source tree: the nearest folder upwards holding ``solutions/``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "solutions").is_dir() and (folder / "lib" / "gradlab").is_dir():
            return folder
    package_tree = Path(__file__).resolve().parent.parent
    if (package_tree / "solutions").is_dir():
        return package_tree
    raise FileNotFoundError(
        f"no gradlab source tree (a folder with solutions/ and lib/gradlab/) at or above {here}; "
        "run gradlab inside the repository or pass --repo"
    )


# gradlab's nbconvert templates (the feedback page) live beside this module
TEMPLATES = Path(__file__).resolve().parent / "templates"


def _nbgrader_templates() -> Path:
    """nbgrader's own templates folder (gradlab's feedback template extends its feedback page)."""
    import importlib.util

    spec = importlib.util.find_spec("nbgrader")
    assert spec is not None and spec.origin is not None, "nbgrader is a dependency of the grader"
    return Path(spec.origin).parent / "server_extensions" / "formgrader" / "templates"


# ``[grading] figures`` in gradlab.toml: do grading kernels draw matplotlib figures?  Drawing is
# a third of the CPU time of grading a plotting notebook (0.6 of ~2 CPU-seconds in the lecture
# notebook bench/bench_grading.py grades) and changes no score; the student has the figures in
# their own notebook, the feedback says where each one was.  "auto": draw only in assignments
# with a cell a person grades (nbgrader's task cells and graded answers), where the grader's
# reader needs them.
FIGURES = ("auto", "draw", "skip")
CONFIG_FILE = "nbgrader_config.py"  # in the workspace: the settings, for nbgrader's own tools


@dataclass
class Workspace:
    """Paths and nbgrader settings for one grading workspace."""

    root: Path
    repo: Path = field(default_factory=find_repo)
    course_id: str = "gradlab"
    # the gradebook's SQLAlchemy URL; "": what nbgrader_config.py names, else gradebook.db in root
    db_url: str = ""
    cell_timeout: int = CELL_TIMEOUT
    # what feedback shows of a failing hidden test: "message" (what was called, what was
    # expected: the hint) or "name" (only which hidden test failed)
    hidden_test_feedback: str = "message"
    # modules each worker's kernel template imports once (gradlab_grader.kernel.factory); None:
    # what the assignment's released notebooks import (pipeline.preload_for)
    kernel_preload: tuple[str, ...] | None = None
    _coursedir: object = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.repo = Path(self.repo).resolve()
        sources = [self.repo / d for d in ("solutions", "course", "lib", "autograder")]
        if self.root == self.repo or any(self.root.is_relative_to(d) for d in sources):
            raise ValueError(f"the workspace {self.root} must not be inside the course sources")
        if self.hidden_test_feedback not in ("message", "name"):
            raise ValueError(f"hidden_test_feedback is 'message' or 'name', not {self.hidden_test_feedback!r}")
        if not self.db_url:
            self.db_url = configured_db_url(self.root) or f"sqlite:///{self.root / 'gradebook.db'}"

    @property
    def db_name(self) -> str:
        """The gradebook's URL without its password, for messages."""
        return safe_url(self.db_url)

    # -- folders -------------------------------------------------------------------------
    @property
    def solutions(self) -> Path:
        return self.repo / "solutions"

    @property
    def course(self) -> Path:
        return self.repo / "course"

    def path(self, step: str, student: str = ".", assignment: str = "") -> Path:
        """Where nbgrader keeps ``step`` (its directory name) of ``student``'s ``assignment``."""
        return Path(self.coursedir().format_path(step, student, assignment))

    def source(self, assignment: str) -> Path:
        """The copy of ``solutions/<assignment>`` that nbgrader releases from."""
        return self.path(self.coursedir().source_directory, ".", assignment)

    def release(self, assignment: str) -> Path:
        """nbgrader's student version of ``assignment`` (copied on to ``course/``)."""
        return self.path(self.coursedir().release_directory, ".", assignment)

    def submission(self, student: str, assignment: str) -> Path:
        return self.path(self.coursedir().submitted_directory, student, assignment)

    def step_root(self, step: str) -> Path:
        """The folder of a per-student step (``submitted``, ``autograded``, ``feedback``): a
        folder per student inside."""
        return self.path(getattr(self.coursedir(), f"{step}_directory"), "", "")

    def autograded(self, student: str, assignment: str) -> Path:
        return self.path(self.coursedir().autograded_directory, student, assignment)

    def feedback(self, student: str, assignment: str) -> Path:
        return self.path(self.coursedir().feedback_directory, student, assignment)

    def ledger(self, assignment: str) -> Path:
        """gradlab's record of each graded submission of ``assignment`` (one JSON file a student)."""
        return self.root / "ledger" / assignment

    @property
    def exports(self) -> Path:
        """The CSVs ``gradlab export`` writes (``grades.csv``, ``<a>-<lms>.csv``)."""
        return self.root / "exports"

    @property
    def roster(self) -> Path:
        """The roster given at collect (``roster.csv``: student_id, name, email, LMS ids)."""
        return self.root / "roster.csv"

    def rejections(self, assignment: str) -> Path:
        """The hand-ins collect turned away, with the reason (``rejected/<a>.json``)."""
        return self.root / "rejected" / f"{assignment}.json"

    def lms_state(self, assignment: str) -> Path:
        """An LMS download's unmatched files and the instructor's mapping (``lms/<a>.json``)."""
        return self.root / "lms" / f"{assignment}.json"

    def bundle(self, assignment: str) -> Path:
        """The student bundle of ``assignment`` (``bundles/<a>.zip``)."""
        return self.root / "bundles" / f"{assignment}.zip"

    def report(self, assignment: str) -> Path:
        """The class report of ``assignment`` (``reports/<a>.html``)."""
        return self.root / "reports" / f"{assignment}.html"

    def inbox(self, assignment: str) -> Path:
        """The demo class of ``assignment`` before collection (``inbox/<a>/<student>/``)."""
        return self.root / "inbox" / assignment

    @property
    def demo_marker(self) -> Path:
        """Says that ``gradlab demo`` made this workspace (and may wipe it)."""
        return self.root / ".gradlab-demo"

    @property
    def exchange(self) -> Path:
        """nbgrader's exchange folder (unused by gradlab's own commands; nbgrader's API needs one)."""
        return self.root / "exchange"

    @property
    def config_file(self) -> Path:
        """``nbgrader_config.py``: the settings gradlab grades with, for nbgrader's own tools."""
        return self.root / CONFIG_FILE

    def assignments(self) -> list[str]:
        """Assignment ids: the folders of ``solutions/`` in lecture order."""
        return sorted(p.name for p in self.solutions.iterdir()
                      if p.is_dir() and any(p.glob("*.ipynb")))

    def students(self, assignment: str) -> list[str]:
        """Students with a submission of ``assignment`` in the workspace."""
        folder = self.step_root("submitted")
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())

    # -- the course's policy ---------------------------------------------------------------
    @property
    def policy_file(self) -> Path:
        return self.root / "gradlab.toml"

    def policy(self) -> dict:
        """``gradlab.toml`` as a dict (``{}`` without one); a broken file is a clear error."""
        if not self.policy_file.exists():
            return {}
        try:
            policy = tomllib.loads(self.policy_file.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{self.policy_file} is not valid TOML ({exc}); fix it or remove it") from None
        figures = policy.get("grading", {}).get("figures", "auto")
        if figures not in FIGURES:
            raise ValueError(f"{self.policy_file}: [grading] figures is one of "
                             f"{', '.join(map(repr, FIGURES))}, not {figures!r}")
        for assignment, due in policy.get("deadlines", {}).items():
            if not hasattr(due, "year"):
                raise ValueError(f"{self.policy_file}: the deadline of {assignment} must be a TOML "
                                 f"date-time such as 2026-11-20T23:59:00Z, not {due!r}")
        return policy

    def draws_figures(self, assignment: str) -> bool:
        """Whether grading kernels draw the figures of ``assignment`` (``[grading] figures`` in
        ``gradlab.toml``, see :data:`FIGURES`): by default only where a person grades a cell."""
        choice = self.policy().get("grading", {}).get("figures", "auto")
        if choice != "auto":
            return choice == "draw"
        import nbformat

        from .cells import is_graded_by_hand

        return any(is_graded_by_hand(cell)
                   for path in sorted(self.source(assignment).glob("*.ipynb"))
                   for cell in nbformat.read(path, as_version=4).cells)

    def apply_deadlines(self, gb, assignments: list[str] | None = None) -> dict:
        """Give the open gradebook ``gb`` the due dates of ``gradlab.toml`` (of ``assignments``,
        default all), which nbgrader measures lateness against.  The gradebook writer calls it
        before it records grades, so every path to a grade — a plain folder, an LMS download, a
        regrade — meets the deadline.  A TOML date-time without an offset is UTC.  Returns
        {assignment: due date} of those applied."""
        from datetime import timezone

        deadlines = {a: due for a, due in self.policy().get("deadlines", {}).items()
                     if assignments is None or a in assignments}
        for assignment, due in deadlines.items():
            if not hasattr(due, "hour"):  # a bare date: the end of that day
                from datetime import datetime, time

                due = datetime.combine(due, time(23, 59, 59))
            if due.tzinfo is not None:   # the gradebook keeps naive UTC
                due = due.astimezone(timezone.utc).replace(tzinfo=None)
            gb.update_or_create_assignment(assignment, duedate=due)
        return deadlines

    # -- nbgrader ------------------------------------------------------------------------
    def settings(self) -> dict[str, dict[str, object]]:
        """The nbgrader configuration, as {section: {trait: value}}."""
        late = self.policy().get("late", {})
        return {
            "CourseDirectory": {
                "root": str(self.root),
                "course_id": self.course_id,
                "db_url": self.db_url,
                "source_directory": "source",
                "release_directory": "release",
                "submitted_directory": "submitted",
                "autograded_directory": "autograded",
                "feedback_directory": "feedback",
                "ignore": [".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store"],
            },
            # nbgrader's exchange (formgrader's Release and Collect) lives in the workspace: the
            # system-wide default folder rarely exists, and every nbgrader call said so
            "Exchange": {"root": str(self.exchange)},
            "Execute": {"timeout": self.cell_timeout, "allow_errors": True, "interrupt_on_timeout": True,
                        "extra_arguments": kernel_arguments()},
            # nbgrader's autograde steps, plus: execution tags a student added are dropped; the
            # metadata check is nbgrader's with its schema compiled once (preprocessors/checkmetadata)
            "Autograde": {"sanitize_preprocessors": [
                "nbgrader.preprocessors.ClearOutput",
                "nbgrader.preprocessors.DeduplicateIds",
                "nbgrader.preprocessors.OverwriteKernelspec",
                "nbgrader.preprocessors.OverwriteCells",
                "gradlab_grader.preprocessors.ClearExecutionTags",
                "gradlab_grader.preprocessors.CheckCellMetadata",
            ], "autograde_preprocessors": [
                "nbgrader.preprocessors.Execute",
                "nbgrader.preprocessors.IgnorePattern",
                "nbconvert.preprocessors.ClearMetadataPreprocessor",
                "nbgrader.preprocessors.LimitOutput",
                "nbgrader.preprocessors.SaveAutoGrades",
                "nbgrader.preprocessors.AssignLatePenalties",
                "gradlab_grader.preprocessors.CheckCellMetadata",
            ]},
            # nbgrader's release steps, plus: every test cell is tagged so that a failing test
            # does not stop Run All in JupyterLab
            "GenerateAssignment": {"preprocessors": [
                "nbgrader.preprocessors.IncludeHeaderFooter",
                "nbgrader.preprocessors.InstantiateTests",
                "nbgrader.preprocessors.LockCells",
                "gradlab_grader.preprocessors.TagTestCells",
                "nbgrader.preprocessors.ClearSolutions",
                "nbgrader.preprocessors.ClearOutput",
                "gradlab_grader.preprocessors.CheckCellMetadata",
                "nbgrader.preprocessors.ComputeChecksums",
                "nbgrader.preprocessors.SaveCells",
                "nbgrader.preprocessors.ClearHiddenTests",
                "nbgrader.preprocessors.ClearMarkScheme",
                "nbgrader.preprocessors.ComputeChecksums",
                "gradlab_grader.preprocessors.CheckCellMetadata",
            ]},
            # a late submission loses what gradlab.toml's [late] says (nothing without it)
            "AssignLatePenalties": {"plugin_class": "gradlab_grader.recording.latepenalty.LatePenalty"},
            "LatePenalty": {"percent_per_day": float(late.get("percent_per_day", 0.0)),
                            "max_percent": float(late.get("max_percent", 100.0))},
            "ClearSolutions": {"code_stub": {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}},
            # feedback: tests named in the contents, hidden tests removed, paths relative to the
            # course, math as MathML (nothing loaded from the internet when a page is viewed),
            # the student's HTML cleaned (nothing of theirs runs in the page)
            "GenerateFeedback": {
                "preprocessors": [
                    "nbgrader.preprocessors.GetGrades",
                    "gradlab_grader.preprocessors.LabelTests",
                    "gradlab_grader.preprocessors.HideHiddenTests",
                    "gradlab_grader.preprocessors.RelativePaths",
                    "gradlab_grader.preprocessors.FigureNotes",
                    "gradlab_grader.preprocessors.RenderMath",
                    "gradlab_grader.preprocessors.SanitizeHTML",
                    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
                ],
            },
            "HideHiddenTests": {"show_message": self.hidden_test_feedback == "message"},
            "RelativePaths": {"roots": sorted({str(self.repo), str(self.root), sys.prefix, sys.base_prefix,
                                               sysconfig.get_paths()["purelib"]}, key=len, reverse=True)},

        }

    def feedback_page(self) -> Config:
        """gradlab's feedback page (``templates/gradlab_feedback``: tests named in the contents,
        no MathJax from the internet, wrapped output), for :func:`pipeline.feedback` only: in
        ``nbgrader_config.py`` these HTMLExporter settings would also reach formgrader's pages.
        nbgrader's feedback page, which it extends, is found through its templates folder; its
        stylesheet folder is kept."""
        nbgrader_templates = _nbgrader_templates()
        config = Config()
        config.HTMLExporter.template_name = "gradlab_feedback"
        config.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates)]
        config.HTMLExporter.extra_template_paths = [
            str(nbgrader_templates.parent / "static" / "node_modules" / "bootstrap" / "dist" / "css"),
            str(nbgrader_templates)]
        return config

    def config(self) -> Config:
        config = Config()
        for section, traits in self.settings().items():
            for trait, value in traits.items():
                setattr(config[section], trait, value)
        return config

    def init(self) -> "Workspace":
        """Create the folders and an ``nbgrader_config.py`` mirroring :meth:`settings`."""
        self.exchange.mkdir(parents=True, exist_ok=True)
        lines = ["# Written by gradlab: the settings `gradlab` grades with, for nbgrader's own tools.",
                 "c = get_config()  # noqa: F821", ""]
        for section, traits in self.settings().items():
            lines += [f"c.{section}.{trait} = {value!r}" for trait, value in traits.items()]
        write_atomically(self.config_file, "\n".join(lines) + "\n")
        return self

    def coursedir(self):
        """nbgrader's ``CourseDirectory`` for this workspace: it owns the folder layout."""
        if self._coursedir is None:
            from nbgrader.coursedir import CourseDirectory

            self._coursedir = CourseDirectory(config=self.config())
        return self._coursedir

    def api(self):
        """nbgrader's Python API, configured for this workspace; call it inside
        :func:`nbgrader_calls`."""
        from nbgrader.apps import NbGraderAPI

        self.exchange.mkdir(parents=True, exist_ok=True)
        return NbGraderAPI(coursedir=self.coursedir(), config=self.config())

    @contextmanager
    def gradebook(self):
        """nbgrader's gradebook, open for the ``with`` block."""
        from nbgrader.api import Gradebook
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

        with nbgrader_calls():
            try:
                gb = Gradebook(self.db_url, self.course_id)
            except (OperationalError, ArgumentError, NoSuchModuleError, ModuleNotFoundError) as exc:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise GradlabError(f"could not open the gradebook at {self.db_name}: {reason}; check that "
                                   "the database server runs and the URL's host, port, user, password and "
                                   "database (--db, or db_url in nbgrader_config.py)") from None
            with gb:
                yield gb


def safe_url(url: str) -> str:
    """``url`` with its password masked (``postgresql+psycopg2://gradlab:***@host/db``)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def configured_db_url(root: Path) -> str | None:
    """The gradebook URL that ``<root>/nbgrader_config.py`` names, when it names one of its own.

    gradlab writes that file (``Workspace.init``), so a ``--db`` given once is remembered; an
    instructor may also set ``c.CourseDirectory.db_url`` there, as for nbgrader.  gradlab's own
    default (``gradebook.db`` in the workspace) is not taken from the file: it follows the
    workspace when the folder moves."""
    config_file = Path(root) / CONFIG_FILE
    if not config_file.is_file():
        return None
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
    except Exception as exc:
        raise ValueError(f"{config_file} could not be read ({type(exc).__name__}: {exc}); fix it, "
                         "or remove it and gradlab writes it again") from None
    url = config.get("CourseDirectory", {}).get("db_url")
    if not url or (url.startswith("sqlite:") and url.endswith("/gradebook.db")):
        return None
    return str(url)


def default_workspace(path: str | os.PathLike | None = None, repo: str | os.PathLike | None = None,
                      db_url: str | None = None) -> Workspace:
    """The workspace at ``path`` (default ``<repo>/grading``); ``db_url``: its gradebook (default:
    what its ``nbgrader_config.py`` names, else ``gradebook.db`` inside it)."""
    repo_path = find_repo(Path(repo)) if repo else find_repo()
    return Workspace(root=Path(path) if path else repo_path / "grading", repo=repo_path, db_url=db_url or "")
