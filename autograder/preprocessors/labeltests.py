"""Name every graded cell for the feedback page's table of contents: its exercise and its test.

nbgrader's feedback lists each test cell as "Test cell (Score …)", two dozen identical entries
in a lecture notebook.  This preprocessor, run by ``GenerateFeedback``, writes a label into
``cell.metadata.gradlab.label`` — ``central_difference · hidden 1`` — which gradlab's feedback
template shows instead: the exercise is the answer cell the test follows
(:func:`gradlab_grader.cells.exercise_of_cells`), the test its ``grade_id`` without the
``test_<exercise>_`` prefix the notebooks use (the whole ``grade_id`` otherwise).
"""

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from ..cells import exercise_of_cells, grade_id, is_test, set_label


class LabelTests(NbGraderPreprocessor):
    """Label each test cell ``<exercise> · <test>`` for the feedback's table of contents."""

    separator = Unicode(" · ", help="Between the exercise and the test in a label.").tag(config=True)

    def preprocess(self, nb, resources):
        owner = exercise_of_cells(nb)
        for cell in nb.cells:
            if not is_test(cell):
                continue
            test = grade_id(cell)
            exercise = owner.get(test, test)
            name = test.removeprefix(f"test_{exercise}_").replace("_", " ") if exercise != test else test
            label = exercise + self.separator + name if exercise != test else test
            set_label(cell, label)
        return nb, resources
