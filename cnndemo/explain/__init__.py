"""Explanations: one cached forward pass per image and model, then predictions, feature maps and attributions.

ModelCache(loader).get(name) -> Explainer; Explainer.predict / feature_maps / attribute / explain;
ModelCache.compare for several architectures side by side.
"""
from __future__ import annotations

from .explainer import Explainer, ModelCache, default_loader
from .guard import ModelGuard, hooks_left
from .methods import METHOD_CLASSES, Attribution, to_heatmap
from .record import ForwardRecord
from .render import colorbar_figure, overlay
from .settings import BASELINES, METHODS, ExplainSettings
from .views import AttributionView, ChannelStats, CompareRow, Explanation, FeatureMapView

__all__ = ["BASELINES", "METHODS", "METHOD_CLASSES", "Attribution", "AttributionView", "ChannelStats", "CompareRow",
           "ExplainSettings", "Explainer", "Explanation", "FeatureMapView", "ForwardRecord", "ModelCache",
           "ModelGuard", "colorbar_figure", "default_loader", "hooks_left", "overlay", "to_heatmap"]
