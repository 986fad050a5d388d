"""Tag every test cell of a release so that a failing test does not stop Run All.

JupyterLab's Run All stops at the first cell that raises, unless the cell carries the
``raises-exception`` tag.  On an unfinished notebook the first visible test fails, so without
the tag the figures further down never appear.  This preprocessor runs in
``GenerateAssignment`` and adds the tags in ``tags`` to every test (nbgrader ``grade``) code
cell of the student version; the source notebooks in ``solutions/`` stay free of them.

Grading is unchanged: autograde drops execution tags before it runs a submission
(:class:`~gradlab_grader.preprocessors.ClearExecutionTags`) and scores each test cell by its
error output as before; the integrity check flags only execution tags the release did not have.
"""

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode


class TagTestCells(NbGraderPreprocessor):
    """Add ``raises-exception`` (or the configured ``tags``) to every test code cell."""

    tags = List(
        Unicode(),
        default_value=["raises-exception"],
        help="Cell tags added to every test (grade) code cell of the student version.",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            tags = list(cell.metadata.get("tags", []))
            cell.metadata["tags"] = tags + [t for t in self.tags if t not in tags]
        return cell, resources
