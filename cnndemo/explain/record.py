"""One hooked forward pass per image: class scores, kept activations and the graph from the CAM layer on."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import LayerAttribution

from cnndemo.errors import BadInputError

from .guard import ModelGuard, layer_module, logits_of


@dataclass(frozen=True, eq=False)
class ForwardRecord:
    """The immutable result of one forward pass; Grad-CAM for any class is read from its kept graph."""

    key: str
    x: torch.Tensor  # the model input [1, C, H, W]
    display: np.ndarray  # uint8 H x W x 3 picture of the model input, for overlays
    logits: torch.Tensor  # [1, K], differentiable with respect to cam_activation only
    probs: np.ndarray  # (K,) softmax of logits
    activations: Mapping[str, torch.Tensor]  # layer name -> detached output
    input_shapes: Mapping[str, tuple[int, ...]]  # layer name -> shape of the tensor the layer received
    cam_layer: str
    cam_activation: torch.Tensor  # A: a leaf that requires grad; the graph starts here
    memo: dict = field(default_factory=dict, repr=False, compare=False)  # heatmaps derived from this record

    def gradcam(self, target: int) -> torch.Tensor:
        """Grad-CAM [1, 1, H, W] for class target: relu(sum_k mean_hw(dy/dA_k) A_k), upsampled bilinearly."""
        A = self.cam_activation
        if A.dim() != 4:
            raise BadInputError(f"Grad-CAM needs a layer with a spatial output; "
                                f"{self.cam_layer!r} gives {tuple(A.shape)}")
        (grad,) = torch.autograd.grad(self.logits[0, target], A, retain_graph=True, allow_unused=True)
        if grad is None:
            raise BadInputError(f"layer {self.cam_layer!r} does not feed the class scores; pick another CAM layer")
        with torch.no_grad():
            cam = F.relu((grad.mean(dim=(2, 3), keepdim=True) * A).sum(dim=1, keepdim=True))
            return LayerAttribution.interpolate(cam, tuple(self.x.shape[2:]), interpolate_mode="bilinear")

    def top(self, k: int) -> list[int]:
        """Indices of the k most probable classes, best first."""
        k = min(k, self.probs.size)
        idx = np.argpartition(-self.probs, k - 1)[:k]
        return [int(i) for i in idx[np.argsort(-self.probs[idx], kind="stable")]]


class ForwardRecorder(ModelGuard):
    """Runs the one hooked forward: keeps every asked layer's output and cuts the graph at the CAM layer."""

    def run(self, x: torch.Tensor, layers: tuple[str, ...], cam_layer: str) -> tuple:
        """Forward x; returns (logits, activations, input shapes, A)."""
        acts: dict[str, torch.Tensor] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        cam: dict[str, torch.Tensor] = {}
        for name in dict.fromkeys(layers):
            if name != cam_layer:
                self.hook(layer_module(self.model, name), _keeper(name, acts, shapes))
        self.hook(layer_module(self.model, cam_layer), _cam_cutter(cam_layer, acts, shapes, cam))
        with torch.enable_grad():
            logits = logits_of(self.model(x))
        if "A" not in cam:
            raise BadInputError(f"layer {cam_layer!r} is not used by the model's forward pass")
        return logits, acts, shapes, cam["A"]


def _first_tensor(value: object) -> torch.Tensor | None:
    """The tensor itself, or the first tensor of a tuple / list."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    return None


def _keeper(name: str, acts: dict, shapes: dict):
    """Forward hook that stores a copy of the layer's output (later in-place ops must not change it)."""
    def hook(module, inputs, output):
        out, inp = _first_tensor(output), _first_tensor(inputs)
        if out is not None:
            acts[name] = out.detach().clone()
        if inp is not None:
            shapes[name] = tuple(inp.shape)
    return hook


def _cam_cutter(name: str, acts: dict, shapes: dict, cam: dict):
    """Forward hook that makes the CAM layer's output the leaf A where the autograd graph starts."""
    def hook(module, inputs, output):
        if not isinstance(output, torch.Tensor):
            raise BadInputError(f"Grad-CAM needs a layer that outputs one tensor; {name!r} does not")
        A = output.detach().requires_grad_()
        cam["A"], acts[name] = A, A.detach()
        inp = _first_tensor(inputs)
        if inp is not None:
            shapes[name] = tuple(inp.shape)
        return A.clone()  # the model goes on with a copy: an in-place op after the layer (ReLU) must not touch A
    return hook


def record_forward(model: torch.nn.Module, x: torch.Tensor, layers: tuple[str, ...], cam_layer: str,
                   key: str, display: np.ndarray) -> ForwardRecord:
    """Run the hooked forward once and freeze what it produced into a ForwardRecord."""
    with ForwardRecorder(model) as recorder:
        logits, acts, shapes, A = recorder.run(x, layers, cam_layer)
    probs = torch.softmax(logits.detach()[0].double(), dim=0).float().numpy()
    return ForwardRecord(key=key, x=x, display=display, logits=logits, probs=probs,
                         activations=MappingProxyType(acts), input_shapes=MappingProxyType(shapes),
                         cam_layer=cam_layer, cam_activation=A)
