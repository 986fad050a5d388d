"""nbgrader's Validate, one message per failing test.

nbgrader's validator (``nbgrader/validator.py``: ``Validator.validate`` and ``_print_error``)
shows every failing test cell as "The following cell failed:", the cell's whole source, then
"The error was:" and the error output's traceback, each line cut at 87 columns.  A test cell's
source is code a student need not read; the traceback of a gradlab check is already the one
short message (``gradlab.checks.install_handler``).  :func:`one_message_per_test`, set as the
hook nbgrader's ``Execute`` (nbclient's ``NotebookClient``) runs after a cell that raised,
replaces the source of a failing, unedited test cell with one line naming the test, so Validate
shows that line and the message::

    The following cell failed:

        test_sgd_visible: Visible test (1 point): one step from a hand-made state, checked by hand.

    The error was:

        Test failed: sgd(w, dw, state, lr=0.1)
          expected 0.7 at index (2,), got 0.3; the step w′ − w is −1× the expected value …

It only changes the copy nbgrader validates (never the student's file).  A test cell the student
edited keeps its source, so Validate still reports it as changed.  In ``nbgrader_config.py``::

    from gradlab.validate import one_message_per_test
    c.Execute.on_cell_error = one_message_per_test
"""

from __future__ import annotations


def _label(cell) -> str:
    first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    name = cell.metadata["nbgrader"]["grade_id"]
    label = f"{name}: {first.lstrip('#').strip()}"
    return label if first.startswith("#") and len(label) <= 83 else name  # Validate cuts at 87


def one_message_per_test(cell=None, **_):
    """nbclient's ``on_cell_error`` hook: a failing test cell whose checksum is intact shows as
    one line naming it (its checksum updated to match)."""
    from nbgrader import utils  # the student's Validate has nbgrader; the library does not need it

    meta = cell.metadata.get("nbgrader", {}) if cell is not None else {}
    if cell is None or cell.cell_type != "code" or not meta.get("grade") or "checksum" not in meta:
        return
    if utils.compute_checksum(cell) != meta["checksum"]:
        return                   # edited by the student: Validate says so, with its source
    cell.source = _label(cell)
    meta["checksum"] = utils.compute_checksum(cell)
