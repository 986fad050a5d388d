"""Remove hidden tests from feedback: their source, and the traceback lines that quote it.

nbgrader's feedback shows the autograded notebook as it ran, hidden tests included.  This
preprocessor, run by ``GenerateFeedback`` before the HTML export, cuts each
``BEGIN HIDDEN TESTS`` … ``END HIDDEN TESTS`` region (as nbgrader's release does) and reduces
the error output of such a cell to its last line — ``CheckFailure: numerical_gradient(f, x):
expected shape (3, 4), got (4, 3) — transposed?`` — so the student learns what is wrong but
not the test that found it.  With ``show_message = False`` (the instructor's choice,
``Workspace.hidden_test_feedback = "name"``) even that line goes: the student learns only which
hidden test failed.
"""

from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Bool, Unicode

from ..cells import grade_id


class HideHiddenTests(ClearHiddenTests):
    """Strip hidden-test source and the tracebacks that would quote it from feedback."""

    placeholder = Unicode(
        "# (hidden tests ran here when your notebook was graded)",
        help="Text left where a hidden-test region was removed.",
    ).tag(config=True)

    show_message = Bool(
        True,
        help="Show a failing hidden test's message (what was called, what was expected); "
             "False: only which hidden test failed.",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        # only the instructor's test cells (restored from the gradebook) hold hidden tests; a
        # student's cell that merely mentions the marker is left as the student wrote it
        if (cell.cell_type != "code" or not utils.is_grade(cell) or not utils.is_locked(cell)
                or self.begin_test_delimeter not in cell.source):
            return cell, resources
        try:
            self._remove_hidden_test_region(cell)
        except RuntimeError:  # unbalanced markers: hide the whole cell rather than fail
            cell.source = ""
        cell.source = (cell.source.rstrip("\n") + "\n" + self.placeholder).lstrip("\n")
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                # the traceback's frames and notes quote the hidden test's code and arguments;
                # keep only "<ename>: <evalue>", coloured as IPython colours it
                if not self.show_message:
                    output.ename, output.evalue = "Hidden test failed", grade_id(cell)
                output.traceback = [f"\x1b[0;31m{output.ename}\x1b[0m: {output.evalue}"]
        return cell, resources
