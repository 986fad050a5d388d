"""The one vocabulary for where a submission stands, and which of them carry a score.

Every place that shows or writes a submission's state (the ledger, the summary, ``gradlab
status``, ``grades.csv``, the LMS export, the class report) uses :class:`Status`; the values are
the words the instructor reads in the export's ``status`` column.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    GRADED = "graded"  # the grade of the newest submission
    SUPERSEDED = "superseded"  # the grade of an earlier submission; a newer one awaits grading
    NOT_GRADED = "not graded"  # collected, never graded
    FAILED = "could not be graded"  # grading ran, but the notebook could not be scored
    REJECTED = "rejected"  # collect turned the hand-in away; nothing to grade
    PENDING = "pending"  # the ledger's word: never recorded, or its files or source changed since

    @classmethod
    def _missing_(cls, value):
        # ledgers written before the vocabulary was one said "failed"
        return cls.FAILED if value == "failed" else None

    @property
    def has_score(self) -> bool:
        """Whether a grade exists to show or export: a graded submission's, or the earlier grade
        of a superseded one (marked as such).  Everything else is left blank, never a zero."""
        return self in (Status.GRADED, Status.SUPERSEDED)


GRADED, SUPERSEDED, NOT_GRADED, FAILED, REJECTED, PENDING = Status


def could_not_grade(why: str) -> str:
    """The problem line of a submission that could not be graded: ``could not be graded: <why>``
    (the ledger marks a submission FAILED by it)."""
    return f"{FAILED}: {why}"


def is_failure(problem: str) -> bool:
    return problem.startswith(f"{FAILED}:")
