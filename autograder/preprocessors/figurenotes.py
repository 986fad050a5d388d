"""Say where a figure was, in feedback graded without drawing figures.

A grading kernel that does not draw figures (``[grading] figures`` in ``gradlab.toml``, see
:meth:`gradlab_grader.workspace.Workspace.draws_figures`) shows each figure by matplotlib's text,
``<Figure size 650x450 with 1 Axes>``.  This preprocessor, run by ``GenerateFeedback``, puts a
sentence a student understands in its place.  Outputs that carry an image are left alone.
"""

import re

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

FIGURE_TEXT = re.compile(r"^<Figure size \d+(\.\d+)?x\d+(\.\d+)? with \d+ Axes>$")


class FigureNotes(NbGraderPreprocessor):
    """Replace the text of an undrawn figure with :attr:`note`."""

    note = Unicode("[a figure was here: it is not drawn while grading; your own notebook shows it]",
                   help="What the feedback shows where a figure was not drawn.").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if set(data) == {"text/plain"} and FIGURE_TEXT.match(str(data["text/plain"]).strip()):
                data["text/plain"] = self.note
        return cell, resources
