"""What a lecture's text says an answer is, its tests accept.

An exercise whose text spells out the answer (a warm-up such as 04's ``sgd``) must pass every
one of its tests, visible and hidden, with exactly that answer: a student who does what the
text says loses nothing.  The answer is quoted from the text cell, not copied into this file,
so the two cannot drift apart.  The test cells run in a plain namespace (no kernel): they raise
``gradlab.checks.CheckFailure`` on a wrong answer.
"""

from __future__ import annotations

import nbformat
import pytest

from gradlab import checks
from gradlab_grader.cells import exercise_of_cells, grade_id, is_test

from conftest import REPO

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

# (assignment, exercise, the text's answer as it appears between backticks in the exercise's text,
#  the answer cell built from it, an answer the tests must refuse: so this test can fail)
TEXT_ANSWERS = [
    ("04_optimizers", "sgd", "`(w - lr * dw, {})`",
     "def sgd(w, dw, state=None, lr=1e-2):\n    return {answer}\n",
     "def sgd(w, dw, state=None, lr=1e-2):\n    return w - lr * dw, state\n"),
]


def _cells(assignment, exercise):
    nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    position = next(i for i, c in enumerate(nb.cells) if grade_id(c) == exercise)
    text = next(c.source for c in reversed(nb.cells[:position]) if c.cell_type == "markdown")
    owner = exercise_of_cells(nb)
    tests = [c.source for c in nb.cells if is_test(c) and owner[grade_id(c)] == exercise]
    setup = next(c.source for c in nb.cells if c.cell_type == "code")  # the imports cell
    return text, setup, tests


def _failures(setup, answer, tests):
    """The messages of the exercise's test cells that fail with this answer cell."""
    failed = []
    for test in tests:
        namespace = {}
        exec(setup, namespace)
        exec(answer, namespace)
        try:
            exec(test, namespace)
        except checks.CheckFailure as failure:
            failed.append(str(failure))
    return failed


@pytest.mark.parametrize("assignment, exercise, quoted, template, refused", TEXT_ANSWERS,
                         ids=[f"{a}:{e}" for a, e, *_ in TEXT_ANSWERS])
def test_the_texts_own_answer_earns_every_point(assignment, exercise, quoted, template, refused):
    text, setup, tests = _cells(assignment, exercise)
    assert quoted in text, f"the text of `{exercise}` no longer says its answer is {quoted}"
    assert len(tests) >= 3
    answer = template.format(answer=quoted.strip("`"))
    assert _failures(setup, answer, tests) == []
    assert _failures(setup, refused, tests), "the tests accept an answer the text rules out"
