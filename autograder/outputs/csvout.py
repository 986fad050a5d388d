"""Every CSV the grader writes goes through :func:`write_csv`: cells a spreadsheet would run as a
formula are neutralised, and the file is replaced whole (a reader never sees half of it).

Folder names, roster names, ids and e-mails come from students and from LMS downloads: a cell
such as ``=HYPERLINK("http://…")`` or ``@SUM(…)`` would run when the instructor opens the export
in a spreadsheet.  OWASP's "CSV Injection" advice is followed: a text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` (shown by spreadsheets,
never run), and the csv module quotes every cell that holds a quote, a separator or a line
break.  Numbers stay numbers: ``-2`` or ``-0.5`` is written as it is (an LMS import reads it as
a number, a spreadsheet cannot run it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..fileio import write_atomically

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value) -> str:
    """``value`` as a CSV cell no spreadsheet runs as a formula (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}" if isinstance(value, float) else str(value)
    text = str(value)
    if text.startswith(FORMULA_START) and not NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """Write ``header`` and ``rows`` to ``path`` (UTF-8, the csv module's dialect), every cell
    through :func:`safe_cell`; the file is replaced atomically."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    for row in [header, *rows]:
        writer.writerow([safe_cell(cell) for cell in row])
    path = Path(path)
    write_atomically(path, buffer.getvalue())
    return path
