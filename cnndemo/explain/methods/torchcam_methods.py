"""The CAM family through torchcam (Apache-2.0): one self-describing class per extractor, no CAM maths here."""
from __future__ import annotations

import functools
from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F
from torchcam import methods as tc

from cnndemo.errors import BadInputError

from ..guard import layer_module
from .base import Attribution, Option, register_method

CAM_SAMPLES = Option("cam_samples", 4, "Noisy / interpolated copies averaged (Smooth Grad-CAM++, SS-CAM, IS-CAM)",
                     low=1, high=35)
CAM_NOISE = Option("cam_noise", 0.3, "Noise spread on the normalised input (Smooth Grad-CAM++)", low=0.0, high=2.0,
                   open_low=True)
CAM_CHANNELS = Option("cam_channels", 64, "Most active maps of the CAM layer used as masks (Score-CAM family; "
                      "more is closer to the paper and slower)", low=1, high=4096)
BATCH_VALUES = 2 ** 22  # input values per batched forward of the Score-CAM family (32 pictures at 3 x 224 x 224)


class TorchCam(Attribution):
    """A torchcam extractor hooked on the CAM layer for one forward (and its backward or masked forwards)."""

    extractor: ClassVar[type] = tc.GradCAM
    gradients: ClassVar[bool] = True  # the extractor backpropagates from the class score
    uses_layer, reduce = True, "relu"

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """The extractor's CAM [1, 1, H, W] for class target, bilinearly upsampled to x's size."""
        model = self.forward_module()
        layer = layer_module(self.model, self.cam_layer)
        with self.extractor(model, layer, input_shape=tuple(x.shape[1:]), **self.settings(x, options)) as cam:
            with torch.set_grad_enabled(self.gradients):
                scores = model(x)
            if not isinstance(cam.hook_a[0], torch.Tensor) or cam.hook_a[0].dim() != 4:
                raise BadInputError(f"{self.label} needs a layer with a spatial output; {self.cam_layer!r} "
                                    "is not one")
            maps = cam(class_idx=target, scores=scores, normalized=False)
        return F.interpolate(maps[0].unsqueeze(1), size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)

    def settings(self, x: torch.Tensor, options: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword arguments of the extractor besides the model and layer."""
        return {}


class ScoreFamily(TorchCam):
    """Score-CAM and its relatives: one masked forward per used map of the CAM layer, batched."""

    gradients, slow = False, True
    options: ClassVar[tuple[Option, ...]] = (CAM_CHANNELS,)

    def settings(self, x: torch.Tensor, options: Mapping[str, Any]) -> dict[str, Any]:
        """The cam_channels most active maps (a 1,024-map layer would cost 1,024 forwards), and as many masked
        pictures per forward as fit in BATCH_VALUES input values (8 to 256)."""
        return {"batch_size": max(8, min(256, BATCH_VALUES // x[0].numel())),
                "reshape_transform": functools.partial(most_active, k=options["cam_channels"])}


@register_method
class GradCamPP(TorchCam):
    """torchcam's GradCAMpp (Chattopadhay et al. 2018)."""

    name, label, extractor = "gradcam_pp", "Grad-CAM++", tc.GradCAMpp
    summary = "Grad-CAM with each map weighted by its positive gradients at every position (2nd/3rd-order terms)."


@register_method
class SmoothGradCamPP(TorchCam):
    """torchcam's SmoothGradCAMpp (Omeiza et al. 2019): one forward and backward per noisy copy."""

    name, label, extractor, slow = "smooth_gradcam_pp", "Smooth Grad-CAM++", tc.SmoothGradCAMpp, True
    summary = "Grad-CAM++ with its gradients averaged over noisy copies of the picture."
    options = (CAM_SAMPLES, CAM_NOISE)

    def settings(self, x: torch.Tensor, options: Mapping[str, Any]) -> dict[str, Any]:
        """The number of noisy copies and their spread."""
        return {"num_samples": options["cam_samples"], "std": options["cam_noise"]}


@register_method
class ScoreCam(ScoreFamily):
    """torchcam's ScoreCAM (Wang et al. 2020)."""

    name, label, extractor = "scorecam", "Score-CAM", tc.ScoreCAM
    summary = "Each map of the CAM layer masks the picture; it is weighted by the class score that masked copy gets."


@register_method
class SSCam(ScoreFamily):
    """torchcam's SSCAM (Wang et al. 2020): Score-CAM over noisy masks."""

    name, label, extractor = "sscam", "SS-CAM", tc.SSCAM
    summary = "Score-CAM with each mask's score averaged over noisy copies of the mask."
    options = (CAM_CHANNELS, CAM_SAMPLES)

    def settings(self, x: torch.Tensor, options: Mapping[str, Any]) -> dict[str, Any]:
        """The Score-CAM settings and the number of noisy copies."""
        return {**super().settings(x, options), "num_samples": options["cam_samples"]}


@register_method
class ISCam(ScoreFamily):
    """torchcam's ISCAM (Naidu et al. 2020): Score-CAM along a path of mask strengths."""

    name, label, extractor = "iscam", "IS-CAM", tc.ISCAM
    summary = "Score-CAM with each mask's score integrated over increasing mask strengths."
    options = (CAM_CHANNELS, CAM_SAMPLES)

    def settings(self, x: torch.Tensor, options: Mapping[str, Any]) -> dict[str, Any]:
        """The Score-CAM settings and the number of path points."""
        return {**super().settings(x, options), "num_samples": options["cam_samples"]}


@register_method
class XGradCam(TorchCam):
    """torchcam's XGradCAM (Fu et al. 2020)."""

    name, label, extractor = "xgradcam", "XGrad-CAM", tc.XGradCAM
    summary = "Grad-CAM with each map's gradient weighted by the map's own activation (axiom-based)."


@register_method
class LayerCam(TorchCam):
    """torchcam's LayerCAM (Jiang et al. 2021)."""

    name, label, extractor = "layercam", "LayerCAM", tc.LayerCAM
    summary = "Every position of every map weighted by its own positive gradient, then summed over maps."


def most_active(a: torch.Tensor, k: int) -> torch.Tensor:
    """The k channels of [N, C, h, w] activations with the largest mean (all of them when C <= k)."""
    if a.dim() != 4 or a.shape[1] <= k:
        return a
    index = a.mean(dim=(2, 3)).topk(k, dim=1).indices
    return a.gather(1, index[:, :, None, None].expand(-1, -1, *a.shape[2:]))
