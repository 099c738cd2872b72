"""Weights by model name: each registry entry's WeightsSpec, a checkpoint path, and building from a checkpoint."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch.nn as nn

from .. import checkpoints
from ..errors import BadInputError, WeightsUnavailableError
from ._layers import resize_heads
from ._registry import ModelInfo, model_info
from .spec import CheckpointFile, FrozenRun, WeightsKind, WeightsSpec, shipped_path

# what get_model(weights=...) accepts besides a checkpoint path: "default" is the entry's own spec
SOURCES = ("default", *(k.value for k in WeightsKind if k is not WeightsKind.NONE))
shipped_checkpoint = shipped_path  # the older name, used by the app's tests


def weights_for(info: ModelInfo, weights: str | Path) -> WeightsSpec:
    """The spec to load for get_model's weights argument: 'default' (or the entry's own kind) is the entry's
    spec; any other source kind is refused; anything else is the path of a cnndemo checkpoint."""
    if weights in ("default", info.weights.kind.value):
        return info.weights
    if weights in SOURCES:
        raise WeightsUnavailableError(f"{info.name} has no {weights} weights ({info.weights.status()})")
    path = _checkpoint_path(weights)
    frozen = checkpoints.read_meta(path).get("frozen")
    if frozen:  # a frozen-feature run's heads on the registry's own weights (with their family quirks)
        base = weights_for(info, frozen["weights"])
        return replace(base, source=FrozenRun(checkpoints.checkpoint_paths(path)[0], base), state_hook=None)
    # a user's file: no family quirks, those belong to the weights the family declared
    return replace(info.weights, source=CheckpointFile(path), state_hook=None, after_load=None)


def has_weights(name: str) -> bool:
    """True if the registered model's pretrained weights can be loaded right now without network."""
    return model_info(name).weights.is_here()


def weights_status(name: str) -> str:
    """One line for the UI saying where this model's weights come from and whether they are here."""
    return model_info(name).weights.status()


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """Build the architecture a cnndemo checkpoint names (head sized for its classes) and load it, in eval mode."""
    state, meta = checkpoints.load(_checkpoint_path(path))
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


def _checkpoint_path(source: str | Path) -> Path:
    """A user's checkpoint path; pickle formats (.pt, .pth, ...) and unknown source names are refused."""
    weights_file, _ = checkpoints.checkpoint_paths(source)  # raises BadInputError for pickle-based formats
    path = Path(source)
    if len(path.parts) == 1 and path.suffix == "" and not weights_file.is_file():
        raise BadInputError(f"unknown weights {str(source)!r}; use one of {', '.join(SOURCES)} "
                            "or the path of a .safetensors checkpoint")
    return path
