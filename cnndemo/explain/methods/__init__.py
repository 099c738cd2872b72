"""Attribution methods: one self-describing class each, in one registry (see base.py); importing registers them."""
from __future__ import annotations

from . import captum_methods, torchcam_methods  # noqa: F401  (registers, in the order the UI offers them)
from .base import (Attribution, Option, get_method, method_choices, methods, option_spec, register_method,
                   to_heatmap)
from .captum_methods import BASELINES, baseline, occlusion_window

__all__ = ["BASELINES", "Attribution", "Option", "baseline", "get_method", "method_choices", "methods",
           "occlusion_window", "option_spec", "register_method", "to_heatmap"]
