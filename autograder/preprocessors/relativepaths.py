"""Show the grading machine's paths in feedback relative to the course.

A traceback in feedback names files as the grading machine sees them
(``/home/ta/grading/…/lib/gradlab/checks.py``).  This preprocessor, run by
``GenerateFeedback``, rewrites the error and stream outputs: each folder in ``roots`` (the
source tree, the workspace, the Python installation) is cut from the paths that start with it,
so ``lib/gradlab/checks.py`` or ``gradlab/checks.py`` is left; any other absolute path to a
Python file keeps only its file name.
"""

import re

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

OTHER_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:'\"()\x1b]+/)+([^\s/:'\"()\x1b]+\.py)")


class RelativePaths(NbGraderPreprocessor):
    """Cut the grading machine's folders from paths in outputs."""

    roots = List(Unicode(), default_value=[],
                 help="Absolute folders cut from the paths in outputs (the longest first).").tag(config=True)

    def relative(self, text: str) -> str:
        for root in sorted(self.roots, key=len, reverse=True):
            text = text.replace(root.rstrip("/") + "/", "")
        return OTHER_PATH.sub(r"\1", text)

    def preprocess_cell(self, cell, resources, cell_index):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [self.relative(line) for line in output.traceback]
                output.evalue = self.relative(output.evalue)
            elif output.output_type == "stream":
                output.text = self.relative(output.text)
        return cell, resources
