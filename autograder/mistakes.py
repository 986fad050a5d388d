"""Typical mistakes, kept beside each assignment's source notebook and found by convention.

``solutions/<assignment>/mistakes/<name>.py`` holds one mistake: a header of ``# key: value``
lines, then the answer cell's full source as a student would type it::

    # story: writes a forward difference where a central one is asked
    # exercise: central_difference     (grade_id of the answer cell it replaces)
    # hint: known-mistake              (the gradlab.checks code its failing tests show)
    def central_difference(f, x, h=1e-5):
        return (f(x + h) - f(x)) / h

``# costs: <points>`` is optional, for a mistake that deliberately costs less than its
exercise's points; ``# message: <text>`` is the likely mistake (the hint's words) its failing
tests must show, word for word.  A mistake replaces one answer cell and loses exactly that exercise's points
(or ``costs``) with exactly that hint in every failing test: the demo class and the notebook
tests grade every mistake set to hold each assignment to that.  The exception is ``hint:
tripwire``, an answer that hands its work to gradlab's own reference: the tests are decided
outside the student's kernel, where no tripwire watches the answer, so it passes them, costs
nothing and is flagged for a human look by the inspection of its code (``flagged_only``).  The
folder is never released.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .cells import answer_ids

MISTAKES_DIR = "mistakes"  # never leaves solutions/: the release stages the source without it
REQUIRED = ("story", "exercise", "hint")
OPTIONAL = ("costs", "message")
HEADER_LINE = re.compile(r"^#\s*(\w+)\s*:\s*(.*?)\s*$")


class MistakeError(ValueError):
    """A mistake file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Mistake:
    name: str  # the file's stem: the demo student's name
    story: str  # what the student did, in a sentence
    exercise: str  # grade_id of the answer cell it replaces
    hint: str  # the diagnostic code every failing test of the exercise shows
    source: str  # the answer cell as the student typed it
    costs: float | None = None  # points lost when not the exercise's full points
    message: str | None = None  # the likely mistake its first failing test names, word for word

    @property
    def flagged_only(self) -> bool:
        """Hands its work to gradlab's reference: no test fails (the tripwire watches only the
        student's own runs), the grade needs a human look instead."""
        return self.hint == "tripwire"


def parse(path: Path, answers: set[str] | None = None) -> Mistake:
    """One mistake file; :class:`MistakeError` when its header is malformed or (given the
    notebook's ``answers`` ids) its exercise is not one of them."""
    path = Path(path)
    lines = path.read_text().splitlines(keepends=True)
    header: dict[str, str] = {}
    line_of: dict[str, int] = {}
    body_start = len(lines)
    for number, line in enumerate(lines, start=1):
        if not line.startswith("#"):
            body_start = number - 1
            break
        match = HEADER_LINE.match(line)
        if not match:
            raise MistakeError(f"{path}:{number}: a header line reads `# key: value`, not {line.strip()!r}")
        key, value = match.groups()
        if key not in REQUIRED + OPTIONAL:
            raise MistakeError(f"{path}:{number}: unknown header key {key!r} "
                               f"(known: {', '.join(REQUIRED + OPTIONAL)})")
        if key in header or not value:
            raise MistakeError(f"{path}:{number}: {key!r} is {'repeated' if key in header else 'empty'}")
        header[key], line_of[key] = value, number
    missing = [key for key in REQUIRED if key not in header]
    if missing:
        raise MistakeError(f"{path}:1: the header lacks {', '.join(missing)} "
                           f"(every mistake names its {', '.join(REQUIRED)})")
    source = "".join(lines[body_start:]).lstrip("\n")
    if not source.strip():
        raise MistakeError(f"{path}:{body_start + 1}: no answer source after the header")
    costs = None
    if "costs" in header:
        try:
            costs = float(header["costs"])
        except ValueError:
            raise MistakeError(f"{path}:{line_of['costs']}: costs is a number of points, "
                               f"not {header['costs']!r}") from None
    if answers is not None and header["exercise"] not in answers:
        raise MistakeError(f"{path}:{line_of['exercise']}: exercise {header['exercise']!r} is not an answer "
                           f"cell of the notebook (answer cells: {', '.join(sorted(answers)) or 'none'})")
    return Mistake(path.stem, header["story"], header["exercise"], header["hint"], source, costs,
                   header.get("message"))


def load(assignment_dir: Path) -> list[Mistake]:
    """The mistake set of the assignment whose source notebooks are in ``assignment_dir``,
    in file-name order; ``[]`` when it has none.  Every mistake must replace an answer cell
    of one of those notebooks."""
    assignment_dir = Path(assignment_dir)
    answers = {gid for nb in assignment_dir.glob("*.ipynb")
               for gid in answer_ids(nbformat.read(nb, as_version=4))}
    return [parse(path, answers) for path in sorted((assignment_dir / MISTAKES_DIR).glob("*.py"))]
