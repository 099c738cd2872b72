"""Explanations: one cached forward pass per image and model, then predictions, feature maps and attributions.

ModelCache(loader).get(name) -> Explainer; Explainer.predict / feature_maps / attribute / explain;
ModelCache.compare for several architectures side by side; Explainer.faithfulness / rank (deletion and insertion,
faithfulness.py) and Explainer.sanity (layer randomisation, sanity.py) say which heatmap to trust. The attribution
methods are one registry (methods() / get_method(name) / method_choices() / register_method).
"""
from __future__ import annotations

from .explainer import Explainer, ModelCache, default_loader
from .faithfulness import Faithfulness, faithfulness
from .guard import ModelGuard, hooks_left
from .methods import (BASELINES, Attribution, Option, get_method, method_choices, methods, register_method,
                      to_heatmap)
from .picture import colorbar
from .record import ForwardRecord
from .sanity import SanityResult, sanity_check
from .render import overlay
from .settings import ExplainSettings
from .views import AttributionView, ChannelStats, CompareRow, Explanation, FeatureMapView

__all__ = ["BASELINES", "Attribution", "AttributionView", "ChannelStats", "CompareRow", "ExplainSettings", "Explainer",
           "Explanation", "Faithfulness", "FeatureMapView", "ForwardRecord", "ModelCache", "ModelGuard", "Option",
           "SanityResult", "colorbar", "default_loader", "faithfulness", "get_method", "hooks_left",
           "method_choices", "methods", "overlay", "register_method", "sanity_check", "to_heatmap"]
