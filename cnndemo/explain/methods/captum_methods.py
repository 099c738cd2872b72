"""Attribution methods run through captum on demand, each one self-describing class in the registry."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from captum.attr import GuidedGradCam, IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Occlusion

from ..guard import layer_module
from .base import Attribution, Option, register_method, to_heat

BASELINES = ("zeros", "mean", "black")

IG_STEPS = Option("ig_steps", 32, "Integration steps", low=1, high=1000)
BASELINE = Option("ig_baseline", "zeros", "Baseline: the data set's mean colour (zeros), the image's mean, or black",
                  choices=BASELINES)
NOISE_TUNNEL = Option("noise_tunnel", False, "Noise tunnel: average over noisy copies of the image (smoothgrad)")
NT_SAMPLES = Option("nt_samples", 8, "Noisy copies", low=1, high=200)
NT_STDEV = Option("nt_stdev", 0.15, "Noise spread, as a fraction of the input's value range", low=0.0, high=1.0,
                  open_low=True)
OCCLUSION_WINDOW = Option("occlusion_window", 0.2, "Window side, as a fraction of the image side", low=0.0,
                          high=1.0, open_low=True)


@register_method
class GradCam(Attribution):
    """Grad-CAM; the Explainer reads it from its cached forward, this class runs captum's LayerGradCam otherwise."""

    name, label, reduce, uses_layer = "gradcam", "Grad-CAM", "relu", True
    summary = "The CAM layer's maps weighted by the class score's mean gradient; positive part, upsampled."

    @classmethod
    def from_record(cls, record, target: int, options: Mapping[str, Any]) -> np.ndarray:
        """Grad-CAM from the record's kept graph: one backward, no forward."""
        return cls.heat_from_record(record, target, options)[0]

    @classmethod
    def heat_from_record(cls, record, target: int, options: Mapping[str, Any]) -> tuple[np.ndarray, float]:
        """from_record's map and its raw strongest value."""
        return to_heat(record.gradcam(target), cls.reduce)

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """relu(Grad-CAM) at the CAM layer, bilinearly upsampled to x's size."""
        layer = layer_module(self.model, self.cam_layer)
        cam = LayerGradCam(self.forward_module(), layer).attribute(x, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear")


@register_method
class GuidedGradCamMethod(Attribution):
    """Captum's GuidedGradCam: guided backprop (nn.ReLU modules) times upsampled Grad-CAM."""

    name, label, uses_layer = "guided_gradcam", "Guided Grad-CAM", True
    summary = "Guided backpropagation (only positive gradients pass each ReLU) times the upsampled Grad-CAM."

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """Guided Grad-CAM of x for class target."""
        layer = layer_module(self.model, self.cam_layer)
        method = GuidedGradCam(self.forward_module(), layer)
        return method.attribute(x, target=target, interpolate_mode="bilinear")


@register_method
class IntegratedGradientsMethod(Attribution):
    """Captum's IntegratedGradients from a baseline, optionally smoothed with a NoiseTunnel (smoothgrad)."""

    name, label, slow = "integrated_gradients", "Integrated Gradients", True
    summary = "Input gradients averaged along a straight path from a baseline picture, times (input - baseline)."
    options = (IG_STEPS, BASELINE, NOISE_TUNNEL, NT_SAMPLES, NT_STDEV)

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """Integrated gradients of x for class target (batches of up to 16 path points)."""
        steps = options["ig_steps"]
        return smoothed(IntegratedGradients(self.forward_module()), x, options, batch=1,
                        baselines=baseline(x, options["ig_baseline"], self.mean, self.std), target=target,
                        n_steps=steps, internal_batch_size=min(steps, 16))


@register_method
class OcclusionMethod(Attribution):
    """Captum's Occlusion: the drop in the class score when a window of the image is blanked out."""

    name, label, reduce, slow = "occlusion", "Occlusion", "relu", True
    summary = "Slides a mean-colour window over the picture and maps how much the class score drops."
    options = (OCCLUSION_WINDOW,)

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """Occlusion map of x for class target, window and stride scaled to the input size, 16 windows a forward."""
        window, stride = occlusion_window(tuple(x.shape[1:]), options["occlusion_window"])
        return Occlusion(self.forward_module()).attribute(
            x, sliding_window_shapes=window, strides=stride, baselines=0.0, target=target,
            perturbations_per_eval=16)


def smoothed(method: Any, x: torch.Tensor, options: Mapping[str, Any], batch: int, **kwargs) -> torch.Tensor:
    """method.attribute(x), or its NoiseTunnel average over noisy copies when the options ask for one."""
    if not options.get("noise_tunnel"):
        return method.attribute(x, **kwargs)
    spread = float(x.detach().max() - x.detach().min())
    stdev = options["nt_stdev"] * spread or options["nt_stdev"]
    return NoiseTunnel(method).attribute(x, nt_type="smoothgrad", nt_samples=options["nt_samples"],
                                         nt_samples_batch_size=batch, stdevs=stdev, **kwargs)


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
