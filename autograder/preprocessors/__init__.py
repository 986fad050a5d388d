"""gradlab's nbgrader preprocessors: each a small transformation in its own file."""

from .cleartags import ClearExecutionTags
from .hidetests import HideHiddenTests

__all__ = ["ClearExecutionTags", "HideHiddenTests"]
