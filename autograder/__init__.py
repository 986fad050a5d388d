"""gradlab_grader — the instructor's tool: nbgrader wrapped into one pipeline and the `gradlab` CLI.

Python API (the CLI is a thin layer over it)::

    from gradlab_grader import Workspace, pipeline
    ws = Workspace("grading")
    pipeline.release(ws, ["week1"])
    pipeline.collect(ws, "week1", "inbox/")
    results = pipeline.autograde(ws, "week1")
"""

from .outputs.results import SubmissionResult, format_table, read_results
from .pipeline import GradlabError, autograde, collect, export, feedback, grade_submission, release
from .workspace import Workspace, default_workspace

__all__ = [
    "GradlabError", "SubmissionResult", "Workspace", "autograde", "collect", "default_workspace",
    "export", "feedback", "format_table", "grade_submission", "read_results", "release",
]
