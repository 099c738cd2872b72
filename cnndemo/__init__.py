"""cnndemo: a CNN explorer - model zoo, explanations, data and training loops (no UI code here)."""
from __future__ import annotations

from .errors import BadInputError, WeightsUnavailableError
from .layertable import summary

__version__ = "0.1.0"
__all__ = ["BadInputError", "WeightsUnavailableError", "summary", "__version__"]

