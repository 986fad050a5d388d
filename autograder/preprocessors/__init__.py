"""gradlab's nbgrader preprocessors: each a small transformation in its own file."""

from .cleartags import ClearExecutionTags
from .hidetests import HideHiddenTests
from .tagtests import TagTestCells

__all__ = ["ClearExecutionTags", "HideHiddenTests", "TagTestCells"]
