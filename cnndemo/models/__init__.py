"""Model zoo: the seed architectures, each registered with its metadata.

list_models() / model_info(name) / get_model(name, weights=..., num_classes=...).
"""
from __future__ import annotations

import torch.nn as nn

from ._layers import layer_names, replace_head, resolve_layer
from ._registry import ModelInfo, list_models, model_info, register
from . import lenet, mnist, alexnet, vgg, googlenet, resnet, densenet, efficientnet  # noqa: F401  (registers)
from .weights import load_weights

__all__ = ["ModelInfo", "get_model", "layer_names", "list_models", "model_info", "register",
           "replace_head", "resolve_layer"]


def get_model(name: str, *, weights: str | None = None, num_classes: int | None = None) -> nn.Module:
    """Build a registered model in eval mode, optionally with weights and a resized head."""
    info = model_info(name)
    model = info.builder(num_classes=info.num_classes)
    if weights is not None:
        load_weights(model, info, weights)
    if num_classes is not None and num_classes != info.num_classes:
        replace_head(model, info.head_layer, num_classes)
    return model.eval()
