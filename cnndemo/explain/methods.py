"""Attribution methods run through captum on demand; each overrides one function, attribute()."""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn as nn
from captum.attr import GuidedGradCam, IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Occlusion

from .guard import LogitsOnly, ModelGuard, layer_module
from .settings import ExplainSettings


class Attribution(ModelGuard):
    """Base of every method: guards the model (eval, frozen weights, hooks removed) around attribute()."""

    name: ClassVar[str] = ""
    reduce: ClassVar[str] = "abs"  # how channels fold into one heatmap: "abs" magnitude or "relu" positive part

    def __init__(self, model: nn.Module, cam_layer: str, mean: tuple[float, ...] = (),
                 std: tuple[float, ...] = ()) -> None:
        """Model to explain, the layer Grad-CAM-style methods read, and the input normalisation."""
        super().__init__(model)
        self.cam_layer, self.mean, self.std = cam_layer, mean, std

    def __call__(self, x: torch.Tensor, target: int, settings: ExplainSettings) -> np.ndarray:
        """Heatmap H x W in [0, 1] for class target; the model is left as it was found."""
        with self:
            attr = self.attribute(x.detach().clone().requires_grad_(), target, settings)
        return to_heatmap(attr.detach(), self.reduce)

    def attribute(self, x: torch.Tensor, target: int, settings: ExplainSettings) -> torch.Tensor:
        """Raw attribution [1, C, H, W] of x for class target (the one function a method overrides)."""
        raise NotImplementedError

    def forward_module(self) -> nn.Module:
        """The model as captum should see it: one tensor of class scores out."""
        return LogitsOnly(self.model)


class GradCam(Attribution):
    """Captum's LayerGradCam, upsampled; the Explainer normally reads Grad-CAM from its cached forward instead."""

    name, reduce = "gradcam", "relu"

    def attribute(self, x: torch.Tensor, target: int, settings: ExplainSettings) -> torch.Tensor:
        """relu(Grad-CAM) at the CAM layer, bilinearly upsampled to x's size."""
        layer = layer_module(self.model, self.cam_layer)
        cam = LayerGradCam(self.forward_module(), layer).attribute(x, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear")


class GuidedGradCamMethod(Attribution):
    """Captum's GuidedGradCam: guided backprop (nn.ReLU modules) times upsampled Grad-CAM."""

    name = "guided_gradcam"

    def attribute(self, x: torch.Tensor, target: int, settings: ExplainSettings) -> torch.Tensor:
        """Guided Grad-CAM of x for class target."""
        layer = layer_module(self.model, self.cam_layer)
        method = GuidedGradCam(self.forward_module(), layer)
        return method.attribute(x, target=target, interpolate_mode="bilinear")


class IntegratedGradientsMethod(Attribution):
    """Captum's IntegratedGradients from a baseline, optionally smoothed with a NoiseTunnel (smoothgrad)."""

    name = "integrated_gradients"

    def attribute(self, x: torch.Tensor, target: int, settings: ExplainSettings) -> torch.Tensor:
        """Integrated gradients of x for class target."""
        ig = IntegratedGradients(self.forward_module())
        kwargs = dict(baselines=baseline(x, settings.ig_baseline, self.mean, self.std), target=target,
                      n_steps=settings.ig_steps,
                      internal_batch_size=min(settings.ig_steps, 16))
        if not settings.noise_tunnel:
            return ig.attribute(x, **kwargs)
        stdev = settings.nt_stdev * float(x.detach().max() - x.detach().min()) or settings.nt_stdev
        return NoiseTunnel(ig).attribute(x, nt_type="smoothgrad", nt_samples=settings.nt_samples,
                                         nt_samples_batch_size=1, stdevs=stdev, **kwargs)


class OcclusionMethod(Attribution):
    """Captum's Occlusion: the drop in the class score when a window of the image is blanked out."""

    name, reduce = "occlusion", "relu"

    def attribute(self, x: torch.Tensor, target: int, settings: ExplainSettings) -> torch.Tensor:
        """Occlusion map of x for class target, window and stride scaled to the input size."""
        window, stride = occlusion_window(tuple(x.shape[1:]), settings.occlusion_window)
        return Occlusion(self.forward_module()).attribute(
            x, sliding_window_shapes=window, strides=stride, baselines=0.0, target=target,
            perturbations_per_eval=16)


METHOD_CLASSES: dict[str, type[Attribution]] = {
    cls.name: cls for cls in (GradCam, GuidedGradCamMethod, IntegratedGradientsMethod, OcclusionMethod)}


def baseline(x: torch.Tensor, kind: str, mean: tuple[float, ...] = (), std: tuple[float, ...] = ()) -> torch.Tensor:
    """IG baseline in normalised space: zeros (the data set's mean colour), the image's mean colour, or black."""
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()
    if kind == "black" and len(mean) == len(std) == x.shape[1]:
        black = [-m / s for m, s in zip(mean, std)]  # pixel value 0 after (p - mean) / std
        return torch.tensor(black, dtype=x.dtype).view(1, -1, 1, 1).expand_as(x).contiguous()
    if kind == "black":
        return x.amin(dim=(2, 3), keepdim=True).expand_as(x).contiguous()  # no metadata: the darkest value
    return torch.zeros_like(x)


def occlusion_window(chw: tuple[int, ...], fraction: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sliding window (C, h, w) covering fraction of each side, with half-window strides."""
    c, h, w = chw
    wh, ww = max(1, round(h * fraction)), max(1, round(w * fraction))
    return (c, wh, ww), (c, max(1, wh // 2), max(1, ww // 2))


def to_heatmap(attr: torch.Tensor, reduce: str) -> np.ndarray:
    """Fold [1, C, H, W] attributions into an H x W float32 map in [0, 1]."""
    a = attr[0].double()
    a = a.abs().sum(dim=0) if reduce == "abs" else torch.relu(a.sum(dim=0))
    scale = float(a.max()) if reduce == "relu" else float(torch.quantile(a.flatten(), 0.99))
    if not np.isfinite(scale) or scale <= 0:
        scale = float(a.max())
    if not np.isfinite(scale) or scale <= 0:
        return np.zeros(a.shape, dtype=np.float32)
    return np.nan_to_num((a / scale).clamp(0, 1).numpy().astype(np.float32))
