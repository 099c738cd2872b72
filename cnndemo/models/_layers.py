"""Layers named by string, resolved through named_modules()."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import BadInputError


def layer_names(model: nn.Module) -> list[str]:
    """Every named submodule of the model, in definition order."""
    return [n for n, _ in model.named_modules() if n]


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called name; a bad name raises ValueError listing the valid ones."""
    modules = dict(model.named_modules())
    if not name or name not in modules:
        raise ValueError(f"no layer {name!r} in {type(model).__name__}; valid layers: {', '.join(layer_names(model))}")
    return modules[name]


def replace_head(model: nn.Module, head: str, num_classes: int) -> nn.Module:
    """Swap the final classifier layer for a fresh one with num_classes outputs."""
    old = resolve_layer(model, head)
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    elif isinstance(old, nn.Conv2d):
        new = nn.Conv2d(old.in_channels, num_classes, old.kernel_size, old.stride, old.padding)
    else:
        raise ValueError(f"head {head!r} is a {type(old).__name__}, not Linear or Conv2d")
    parent_name, _, attr = head.rpartition(".")
    setattr(resolve_layer(model, parent_name) if parent_name else model, attr, new)
    return model


def resize_heads(model: nn.Module, head: str, num_classes: int) -> nn.Module:
    """Resize the classifier head and any auxiliary heads the model lists in aux_heads (GoogLeNet)."""
    for name in (head, *getattr(model, "aux_heads", ())):
        replace_head(model, name, num_classes)
    return model


def logits_of(output: object) -> torch.Tensor:
    """The class scores of a model output (first element of a tuple / named tuple output)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise BadInputError(f"the model returned {type(output).__name__}, not a tensor of class scores")
