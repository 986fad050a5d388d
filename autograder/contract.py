"""The grader–library contract: what the grader relies on in the course library and its notebooks.

The library (``lib/gradlab``, what students install) knows nothing of the grader; the grader
reads what the library writes and protects what the library's checks need.  Each fact of that
agreement is declared here once; ``tests/autograder/test_contract.py`` imports the library and
holds both sides to it (a renamed handler or a new code format fails there, not in a class's
grades).
"""

from __future__ import annotations

import re

# gradlab.checks: every notebook's locked setup cell calls ``checks.install_handler()``, which
# makes IPython show a failing check as one short message: ``shell.set_custom_exc((CheckFailure,
# Exception), _show_failure)``.  While grading, the trusted checker writes the same message for a
# test cell (``checks.error_output``, one implementation for both).
CHECKS_MODULE = "gradlab.checks"
INSTALL_HANDLER = "install_handler"
HANDLER = "_show_failure"
CHECK_FAILURE = "CheckFailure"

# A failing check's error line (the evalue nbgrader stores) ends in ``(check: <code>)``;
# results, the report and the mistake sets read the code from it.
CHECK_CODE = re.compile(r"\(check: ([a-z-]+)\)\s*$")

# What a kernel template imports when the caller names nothing (the assignment's own imports
# come from execution.engine.preload_modules): the one library nearly every notebook imports.
DEFAULT_PRELOAD = ("numpy",)

# What an answer may import: the numerical stack and harmless standard modules (``sys`` for
# ``setrecursionlimit``, ``time``, ``warnings`` …; what ``sys`` could be used for beyond that is
# flagged by its use).  Anything else (os, sqlite3, threading, ctypes, …) has no business in a
# derivative or a gradient, and integrity names it for a human to look at.
ALLOWED_IMPORTS = frozenset({
    "numpy", "math", "cmath", "itertools", "functools", "collections", "typing", "dataclasses",
    "operator", "fractions", "decimal", "statistics", "random", "copy", "matplotlib", "scipy",
    "gradlab", "autograd", "__future__", "sys", "time", "warnings", "re", "string", "heapq",
    "bisect", "enum", "abc", "numbers", "contextlib", "textwrap", "pprint"})

