"""Model zoo: the seed architectures, each registered with its metadata.

list_models() / model_info(name) / get_model(name, weights=..., num_classes=...).
"""
from __future__ import annotations

import torch.nn as nn

from ._layers import layer_names, replace_head, resize_heads, resolve_layer
from ._registry import ModelInfo, list_models, model_info, register
from . import lenet, mnist, alexnet, vgg, googlenet, resnet, densenet, efficientnet  # noqa: F401  (registers)
from .weights import SOURCES, has_weights, load_checkpoint, load_weights, weights_status

__all__ = ["ModelInfo", "get_model", "has_weights", "layer_names", "list_models", "load_checkpoint", "model_info",
           "register", "replace_head", "resize_heads", "resolve_layer", "weights_status"]


def get_model(name: str, *, weights: str | None = None, num_classes: int | None = None) -> nn.Module:
    """Build a registered model in eval mode, optionally with weights and a resized head."""
    info = model_info(name)
    model = info.builder(num_classes=info.num_classes)
    resize = num_classes is not None and num_classes != info.num_classes
    head_first = resize and weights not in (None, *SOURCES)  # a checkpoint file may carry a resized head
    if head_first:
        resize_heads(model, info.head_layer, num_classes)
    if weights is not None:
        load_weights(model, info, weights)
    if resize and not head_first:
        resize_heads(model, info.head_layer, num_classes)
    return model.eval()
