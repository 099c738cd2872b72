"""cnndemo: a CNN explorer - model zoo, explanations, data and training loops (no UI code here)."""
from __future__ import annotations

from .errors import BadInputError, WeightsUnavailableError

__version__ = "0.1.0"
__all__ = ["BadInputError", "WeightsUnavailableError", "summary", "__version__"]


def summary(model_or_name, input_size=None):
    """Per-layer table (name, type, output shape, parameters, multiply-adds) and totals; see cnndemo.summary."""
    from .summary import summary as _summary  # lazy: torchinfo is only needed here
    return _summary(model_or_name, input_size)
