"""Ignore execution tags a student added: every cell of a submission runs when it is graded.

nbclient skips cells tagged ``skip-execution``; a student who tags the test cells that way would
otherwise collect their points without running them (a test cell that never raised counts as
passed).  This preprocessor runs in autograde's sanitising step, before execution, and drops
the tags listed in ``tags`` from every cell.
"""

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

from ..cells import EXECUTION_TAGS


class ClearExecutionTags(NbGraderPreprocessor):
    """Remove tags that change how a cell is executed (``skip-execution`` …) from a submission."""

    tags = List(
        Unicode(),
        default_value=list(EXECUTION_TAGS),
        help="Cell tags removed before a submission is executed.",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        tags = cell.get("metadata", {}).get("tags")
        if tags:
            kept = [t for t in tags if t not in self.tags]
            if len(kept) != len(tags):
                resources.setdefault("gradlab_cleared_tags", []).append(cell_index)
                cell.metadata["tags"] = kept
        return cell, resources
