"""Every mistake that states its ``message`` shows exactly that hint in each failing test of its
exercise (the mistake set is the specification of the hints), and never a traceback."""

from __future__ import annotations

import pytest

from gradlab import checks
from gradlab_grader import mistakes

from conftest import REPO

from .harness import outcomes

WITH_MESSAGE = [m for a in sorted((REPO / "solutions").iterdir()) if a.is_dir()
                for m in mistakes.load(a) if m.message]


@pytest.mark.parametrize("mistake", WITH_MESSAGE, ids=lambda m: m.name)
def test_the_mistake_shows_its_message(mistake):
    failing = [(gid, shown) for gid, shown in outcomes(mistake.exercise, mistake.source) if shown is not None]
    assert failing, f"{mistake.name}: no test fails"
    for gid, shown in failing:
        assert isinstance(shown, checks.CheckFailure), f"{gid}: {shown!r}"
        assert (shown.diagnostic, shown.hint) == (mistake.hint, mistake.message), gid
