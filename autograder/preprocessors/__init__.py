"""gradlab's nbgrader preprocessors: each a small transformation in its own file."""

from .checkmetadata import CheckCellMetadata
from .cleartags import ClearExecutionTags
from .figurenotes import FigureNotes
from .hidetests import HideHiddenTests
from .labeltests import LabelTests
from .relativepaths import RelativePaths
from .rendermath import RenderMath
from .sanitize import SanitizeHTML
from .tagtests import TagTestCells

__all__ = ["CheckCellMetadata", "ClearExecutionTags", "FigureNotes", "HideHiddenTests", "LabelTests",
           "RelativePaths", "RenderMath", "SanitizeHTML", "TagTestCells"]
