"""cnndemo: a CNN explorer - model zoo, explanations, data and training loops (no UI code here)."""
from __future__ import annotations

from .errors import BadInputError, WeightsUnavailableError
# Imported eagerly so that the name cnndemo.summary is this function from the start: a submodule imported
# later would otherwise replace it with the module object.
from .summary import summary

__version__ = "0.1.0"
__all__ = ["BadInputError", "WeightsUnavailableError", "summary", "__version__"]

