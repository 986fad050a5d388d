"""gradlab's nbgrader preprocessors: each a small transformation in its own file."""

from .hidetests import HideHiddenTests

__all__ = ["HideHiddenTests"]
