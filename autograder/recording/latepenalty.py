"""A late submission loses a share of its score per day late: nbgrader's late-penalty plugin.

nbgrader measures how late a submission is (its ``timestamp.txt`` against the assignment's due
date in the gradebook) and asks a plugin for the penalty.  Its own plugin knows only "none" and
"zero"; most course policies are "p % per day, at most q %", which this one applies::

    c.AssignLatePenalties.plugin_class = "gradlab_grader.recording.latepenalty.LatePenalty"
    c.LatePenalty.percent_per_day = 10.0
    c.LatePenalty.max_percent = 100.0

A day started counts as a day (one second late costs ``percent_per_day``), as most syllabi say.
A hand-in without a known time (no ``timestamp.txt``) is never late.  nbgrader computes the
penalty once, at autograding; :func:`penalty_now` computes it on the current scores, so a grade
given by hand in the formgrader afterwards is penalised by the same rule.
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float

DAY = 86400.0


class LatePenalty(LateSubmissionPlugin):
    percent_per_day = Float(0.0, help="Percent of the notebook's score lost per day (or part of a "
                            "day) late; 0 until the course sets it (gradlab.toml's [late], e.g. "
                            "10 % a day, a common syllabus rule).").tag(config=True)
    max_percent = Float(100.0, help="The most a late submission can lose, in percent of its "
                        "score.").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        days = math.ceil(total_seconds_late / DAY) if total_seconds_late > 0 else 0
        return score * min(self.max_percent, self.percent_per_day * days) / 100.0


def penalty_now(ws, submission) -> float:
    """The late penalty of a gradebook ``submission`` on its scores as they are now (a grade given
    by hand after autograding included): nbgrader's rule, notebook by notebook, with the
    workspace's ``[late]`` settings."""
    seconds = submission.total_seconds_late or 0.0
    if seconds <= 0:
        return 0.0
    plugin = LatePenalty(config=ws.config())
    return sum(plugin.late_submission_penalty(submission.student.id, nb.score, seconds) or 0.0
               for nb in submission.notebooks)
