"""Model zoo: the seed architectures, each registered with its metadata and weights spec.

list_models() / model_info(name) / get_model(name, weights=..., num_classes=...); model_info(name).weights is
the WeightsSpec (source, classes, normalisation, preprocessing, recorded metrics, readiness, load()).
"""
from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from .. import checkpoints
from ..errors import BadInputError
from ._layers import layer_names, logits_of, replace_head, resize_heads, resolve_layer
from .registry import ModelInfo, has_weights, list_models, model_info, register, weights_status
from . import lenet, mnist, alexnet, vgg, googlenet, resnet, densenet, efficientnet  # noqa: F401  (registers)
from .download import DownloadProgress, Progress
from .weights import SOURCES, Readiness, RecordedMetrics, WeightsKind, WeightsSpec, checkpoint_path, weights_for

__all__ = ["DownloadProgress", "ModelInfo", "Readiness", "RecordedMetrics", "WeightsKind", "WeightsSpec",
           "get_model", "has_weights", "layer_names", "list_models", "logits_of", "load_checkpoint", "model_info", "register",
           "replace_head", "resize_heads", "resolve_layer", "weights_status"]


def get_model(name: str, *, weights: str | Path | None = None, num_classes: int | None = None,
              progress: Progress | None = None) -> nn.Module:
    """Build a registered model in eval mode, optionally with weights (progress hears about downloads) and a
    resized head."""
    info = model_info(name)
    model = info.builder(num_classes=info.num_classes)
    resize = num_classes is not None and num_classes != info.num_classes
    head_first = resize and weights not in (None, *SOURCES)  # a checkpoint file may carry a resized head
    if head_first:
        resize_heads(model, info.head_layer, num_classes)
    if weights is not None:
        weights_for(info, weights).load(model, progress)
    if resize and not head_first:
        resize_heads(model, info.head_layer, num_classes)
    return model.eval()


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """Build the architecture a cnndemo checkpoint names (head sized for its classes) and load it, in eval mode."""
    state, meta = checkpoints.load(checkpoint_path(path))
    try:
        info = model_info(meta["arch"])
    except ValueError as err:
        raise BadInputError(f"checkpoint {Path(path).name} names no known architecture: {err}") from None
    model = info.builder(num_classes=info.num_classes)
    classes = meta.get("classes") or info.classes
    if len(classes) != info.num_classes:
        resize_heads(model, info.head_layer, len(classes))
    if meta.get("frozen"):  # its heads alone: the frozen network comes from the weights it names
        weights_for(info, path).load(model)
    else:
        checkpoints.fit_state(model, state, f"checkpoint {Path(path).name} for {info.name}")
    return model.eval(), meta
