"""Attribution methods run through captum on demand, each one self-describing class in the registry."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn
from captum.attr import (DeepLift, GuidedBackprop, InputXGradient, IntegratedGradients, LayerAttribution,
                         LayerGradCam, NoiseTunnel, Occlusion, Saliency)
from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR  # the module types DeepLift has a rule for

from cnndemo.errors import BadInputError

from ..guard import LogitsOnly, ModelGuard, layer_module
from .activations import UntraceableError, ruled_twin, unruled
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
        return gradcam(self, x, target)


def gradcam(method: Attribution, x: torch.Tensor, target: int) -> torch.Tensor:
    """captum's relu(Grad-CAM) at method's CAM layer of its model, bilinearly upsampled to x's size."""
    layer = layer_module(method.model, method.cam_layer)
    cam = LayerGradCam(method.forward_module(), layer).attribute(x, target=target, relu_attributions=True)
    return LayerAttribution.interpolate(spatial(cam, method), tuple(x.shape[2:]), interpolate_mode="bilinear")


class RuleBased(Attribution):
    """A method whose rule acts at activation modules (guided backprop, DeepLift): it runs on the model's ruled twin
    (see activations.py), and refuses a model with an activation its rule does not cover instead of quietly
    computing the plain gradient there."""

    @staticmethod
    def ruled(module: nn.Module) -> bool:
        """Whether this method's rule covers an activation module."""
        raise NotImplementedError

    @classmethod
    def unavailable(cls, model: nn.Module) -> str | None:
        """Why this method is not offered for model (a sentence), or None when its rule sees every activation."""
        with ModelGuard(model):  # traced in eval mode, as every explain call runs it
            return cls._refusal(model)[1]

    @classmethod
    def _refusal(cls, model: nn.Module) -> tuple[nn.Module | None, str | None]:
        """(the ruled twin, None), or (None, the sentence saying why this method cannot run on model)."""
        try:
            twin = ruled_twin(model)
        except UntraceableError as err:
            return None, (f"{cls.label} needs to see every activation of the model to apply its rule there, and "
                          f"torch.fx cannot trace this model's forward ({err}), so it is not offered for it.")
        missing = unruled(twin, cls.ruled)
        if missing:
            return None, (f"{cls.label} has no rule for {', '.join(dict.fromkeys(missing))} in this model: its map "
                          "would be the plain gradient there, so it is not offered for it.")
        return twin, None

    def twin(self) -> nn.Module:
        """The ruled twin as captum should see it (class scores out); BadInputError saying why when it cannot be."""
        twin, why = self._refusal(self.model)
        if twin is None:
            raise BadInputError(why)
        return LogitsOnly(twin)


class Guided(RuleBased):
    """Methods built on guided backpropagation: the positive-gradient rule at every ReLU-type activation."""

    @staticmethod
    def ruled(module: nn.Module) -> bool:
        """Guided backprop's rule is defined for ReLUs (ReLU6 included, as CappedReLU in the twin)."""
        return isinstance(module, nn.ReLU)

    def guided(self, x: torch.Tensor, target: int) -> torch.Tensor:
        """Guided backpropagation of x for class target, on the ruled twin."""
        return GuidedBackprop(self.twin()).attribute(x, target=target)


@register_method
class GuidedGradCamMethod(Guided):
    """Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times the upsampled Grad-CAM, as captum's
    GuidedGradCam computes it, with the guided part on the ruled twin and Grad-CAM on the model itself (the CAM
    layer may be a container, which the flat twin does not call)."""

    name, label, uses_layer = "guided_gradcam", "Guided Grad-CAM", True
    summary = "Guided backpropagation (only positive gradients pass each ReLU) times the upsampled Grad-CAM."

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """Guided Grad-CAM of x for class target."""
        return self.guided(x, target) * gradcam(self, x, target)


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
class DeepLiftMethod(RuleBased):
    """Captum's DeepLift (Shrikumar et al. 2017), rescale rule, from the same baselines as Integrated Gradients,
    on the ruled twin: every activation and max-pool call gets its own rule, and the attributions add up to the
    change of the class score from the baseline."""

    name, label = "deeplift", "DeepLift"
    summary = "Splits the score's change from a baseline picture back to the pixels, layer by layer (rescale rule)."
    options = (BASELINE,)

    @staticmethod
    def ruled(module: nn.Module) -> bool:
        """captum's DeepLift has a rule for exactly the module types of its table (the twin's two added to it)."""
        return type(module) in SUPPORTED_NON_LINEAR

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """DeepLift attributions of x for class target relative to the chosen baseline."""
        base = baseline(x, options["ig_baseline"], self.mean, self.std)
        return DeepLift(self.twin()).attribute(x, baselines=base, target=target)


@register_method
class GuidedBackpropMethod(Guided):
    """Captum's GuidedBackprop (Springenberg et al. 2015) on the ruled twin, so ReLU6 and functional relus count."""

    name, label = "guided_backprop", "Guided Backprop"
    summary = "The input gradient with only positive gradients let back through each ReLU: sharp edges, any class."

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """Guided backpropagation of x for class target."""
        return self.guided(x, target)


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
