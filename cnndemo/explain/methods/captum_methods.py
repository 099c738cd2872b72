"""Attribution methods run through captum on demand, each one self-describing class in the registry."""
from __future__ import annotations

import functools
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import numpy as np
import torch
import torch.nn as nn
from captum.attr import (DeepLift, GuidedBackprop, GuidedGradCam, InputXGradient, IntegratedGradients,
                         LayerAttribution, LayerGradCam, NoiseTunnel, Occlusion, Saliency)
from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR  # the module types DeepLift has a rule for

from cnndemo.errors import BadInputError

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
        return LayerAttribution.interpolate(spatial(cam, self), tuple(x.shape[2:]), interpolate_mode="bilinear")


@register_method
class GuidedGradCamMethod(Attribution):
    """Captum's GuidedGradCam: guided backprop (nn.ReLU modules) times upsampled Grad-CAM."""

    name, label, uses_layer = "guided_gradcam", "Guided Grad-CAM", True
    summary = "Guided backpropagation (only positive gradients pass each ReLU) times the upsampled Grad-CAM."

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """Guided Grad-CAM of x for class target."""
        layer = layer_module(self.model, self.cam_layer)
        method = GuidedGradCam(self.forward_module(), layer)
        with warnings.catch_warnings():  # captum warns, then returns an empty tensor, for a layer without a map
            warnings.simplefilter("ignore", UserWarning)
            return spatial(method.attribute(x, target=target, interpolate_mode="bilinear"), self)


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


def spatial(attr: torch.Tensor, method: Attribution) -> torch.Tensor:
    """attr when it is a [1, C, H, W] map; a CAM layer without a spatial output raises BadInputError."""
    if attr.dim() != 4 or attr.numel() == 0:
        raise BadInputError(f"{method.label} needs a layer with a spatial output; {method.cam_layer!r} is not one")
    return attr


@register_method
class SaliencyMethod(Attribution):
    """Captum's Saliency (Simonyan et al. 2014); with the noise tunnel it is SmoothGrad."""

    name, label = "saliency", "Saliency"
    summary = "How strongly each pixel's value moves the class score: the size of the input gradient."
    options = (NOISE_TUNNEL, NT_SAMPLES, NT_STDEV)

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """|d score / d x|, averaged over noisy copies (batched) when the noise tunnel is on."""
        return smoothed(Saliency(self.forward_module()), x, options, batch=min(options["nt_samples"], 16),
                        target=target, abs=True)


@register_method
class InputXGradientMethod(Attribution):
    """Captum's InputXGradient."""

    name, label = "input_x_gradient", "Input x Gradient"
    summary = "The input gradient times the input itself: a first-order estimate of each pixel's contribution."
    options = (NOISE_TUNNEL, NT_SAMPLES, NT_STDEV)

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """x * d score / d x, averaged over noisy copies (batched) when the noise tunnel is on."""
        return smoothed(InputXGradient(self.forward_module()), x, options, batch=min(options["nt_samples"], 16),
                        target=target)


@register_method
class DeepLiftMethod(Attribution):
    """Captum's DeepLift (Shrikumar et al. 2017), rescale rule, from the same baselines as Integrated Gradients."""

    name, label = "deeplift", "DeepLift"
    summary = "Splits the score's change from a baseline picture back to the pixels, layer by layer (rescale rule)."
    options = (BASELINE,)

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """DeepLift attributions of x for class target relative to the chosen baseline."""
        base = baseline(x, options["ig_baseline"], self.mean, self.std)
        with reuse_hidden(self.model, x):
            return DeepLift(self.forward_module()).attribute(x, baselines=base, target=target)


@register_method
class GuidedBackpropMethod(Attribution):
    """Captum's GuidedBackprop (Springenberg et al. 2015), which overrides the gradients of nn.ReLU modules."""

    name, label = "guided_backprop", "Guided Backprop"
    summary = "The input gradient with only positive gradients let back through each ReLU: sharp edges, any class."

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """Guided backpropagation of x for class target."""
        return GuidedBackprop(self.forward_module()).attribute(x, target=target)


@contextmanager
def reuse_hidden(model: nn.Module, x: torch.Tensor) -> Iterator[None]:
    """Inside, DeepLift skips its rule for a nonlinearity module the forward calls twice (one MaxPool2d after both
    convs): captum needs one module per use, and the gradient then passes as through a functional op (F.relu)."""
    reused = [m for m in reused_modules(model, x) if type(m) in SUPPORTED_NON_LINEAR]
    classes = [type(m) for m in reused]
    for module, cls in zip(reused, classes):
        module.__class__ = _unruled(cls)  # captum matches exact types, so a subclass is left alone
    try:
        yield
    finally:
        for module, cls in zip(reused, classes):
            module.__class__ = cls


def reused_modules(model: nn.Module, x: torch.Tensor) -> list[nn.Module]:
    """Leaf modules that one forward of x calls more than once (counted with hooks removed right after)."""
    calls: dict[nn.Module, int] = {}
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_pre_hook(lambda m, _: calls.__setitem__(m, calls.get(m, 0) + 1)) for m in leaves]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return [m for m, n in calls.items() if n > 1]


@functools.cache
def _unruled(cls: type) -> type:
    """A subclass of cls that DeepLift's exact-type lookup does not match."""
    return type(f"Reused{cls.__name__}", (cls,), {"__module__": __name__})


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
