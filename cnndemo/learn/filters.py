"""The first convolution's kernels as small pictures, each next to the feature map it gives for this image."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from cnndemo.errors import BadInputError

from .convstep import conv_layers
from .figures import filters_image
from .trace import trace


@dataclass(frozen=True)
class FiltersView:
    """The first convolution's weights (C_out x C_in x k x k), its output maps for this image, and the picture."""

    layer: str
    weight: np.ndarray
    maps: np.ndarray
    image: np.ndarray


def first_filters(model: nn.Module, inputs: torch.Tensor, limit: int = 12) -> FiltersView:
    """What each filter of the first convolution looks for, and where it fires on this image."""
    names = conv_layers(model)
    if not names:
        raise BadInputError("this model has no convolution")
    tr = trace(model, inputs, follow=names[0])  # stops soon after the first convolution
    step = next((s for s in tr.steps if s.kind == "convolution" and s.module), None)
    if step is None:
        raise BadInputError("no convolution ran for this input")
    weight = step.layer.weight.detach().float().cpu().numpy()
    maps = tr.tensor(step.output)[0].float().cpu().numpy()
    return FiltersView(step.name, weight, maps, filters_image(weight, maps, limit))
