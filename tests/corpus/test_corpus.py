"""The measure of the hints on wrong answers written before the diagnosis code
(``wrong_answers.CORPUS``): of the answers the tests catch, at least two thirds get a message
that names the actual mistake, none a message that names another cause, none a raw traceback."""

from __future__ import annotations

import re

import pytest

from gradlab import checks

from .harness import outcomes
from .wrong_answers import CORPUS

NEUTRAL = {"mismatch", "shape", "type", "none", "nan", "dtype", "error", "assert", "not-implemented", "syntax-error"}


def grade(entry):
    """("passed" | "named" | "neutral" | "misleading" | "traceback", the first message)."""
    exercise, story, names, source = entry
    failing = [shown for _, shown in outcomes(exercise, source) if shown is not None]
    if not failing:
        return "passed", ""
    first = failing[0]
    if not isinstance(first, checks.CheckFailure):
        return "traceback", repr(first)
    text = "\n".join(first.student_lines())
    if first.diagnostic == "mismatch":       # "no single cause found": says what differs, names nothing
        return "neutral", text
    if re.search(names, text):
        return "named", text
    return ("neutral" if first.diagnostic in NEUTRAL else "misleading"), text


@pytest.fixture(scope="module")
def graded():
    return [(entry, *grade(entry)) for entry in CORPUS]


def test_two_thirds_of_the_caught_answers_are_named_and_none_misleads(graded):
    counts = {}
    for entry, verdict, text in graded:
        counts[verdict] = counts.get(verdict, 0) + 1
        print(f"{verdict:10} {entry[0]:22} {entry[1]}\n           {text!s:.400}")
    caught = len(graded) - counts.get("passed", 0)
    print(counts, f"caught {caught}/{len(graded)}")
    assert not [e[1] for e, v, _ in graded if v in ("misleading", "traceback")]
    assert counts.get("named", 0) >= 2 / 3 * caught


# answers the diagnosis once left at "no single cause found": each now proven on every probe
PROVEN_SINCE = ["scales the gradient by (1 - beta) (EMA form)", "adds +lr*g into v (sign)",
                "multiplies by sqrt(r) instead of dividing", "second moment of |g| instead of g² (no square)",
                "eps inside the square root"]


def test_the_update_rules_causes_once_unexplained_are_named(graded):
    verdicts = {entry[1]: verdict for entry, verdict, _ in graded}
    assert {story: verdicts[story] for story in PROVEN_SINCE} == {story: "named" for story in PROVEN_SINCE}
