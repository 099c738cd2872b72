"""Fooling the network: FGSM and PGD adversarial pictures, untargeted or targeted, through captum.robust.

FGSM (Goodfellow et al. 2015) takes one step of size epsilon along the sign of the loss's gradient; PGD (Madry et
al. 2018) takes several smaller ones, each projected back into the epsilon-ball around the original. Untargeted,
they push the picture away from the class the model gives it; targeted ("make it an ostrich"), towards a chosen
class. epsilon is the L-infinity radius in pixel levels of [0, 1] pixel space, before the normalisation: k/255 for a
whole k from 1 to MAX_LEVELS, so no pixel of the 8-bit picture moves by more than k levels.

The picture attacked is the student's photo exactly as the model sees it (cnndemo.images.model_input_image: the
model's input size), and the adversarial picture is offered as a PNG of that size. Explore sends every upload through
the same preprocessing, and for ImageNet models that resizes a 224 x 224 PNG to 256 x 256 and crops its centre
again. This module makes the attack survive that path instead of changing the path: the model is attacked through
PixelModel, which does the upload path's resize and crop (bilinear, as PIL does for an enlargement) and the
normalisation inside the graph, so the perturbation is optimised for what Explore will really feed the model. The
result is then rounded to 8 bits, written as the PNG, and read back through cnndemo.images (the upload path itself);
the predictions, the Grad-CAMs and `fooled` all come from that read-back, never from the float tensor.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from captum.robust import FGSM, PGD
from PIL import Image

from cnndemo.errors import BadInputError
from cnndemo.explain import AttributionView, Explainer, ExplainSettings, ModelGuard
from cnndemo.explain.guard import logits_of
from cnndemo.images import ImageSource, model_input_image, open_image

MAX_LEVELS = 32  # epsilon at most 32/255: beyond that the change is plain to see and the lesson is lost
MAX_STEPS = 100
PGD_STEP_FACTOR = 2.5  # PGD's step is 2.5 epsilon / steps (Madry et al.): the ball's edge is reachable with margin
_RESAMPLING = {"bilinear": "bilinear", "nearest": "nearest", "bicubic": "bicubic"}  # PIL's filter -> torch's mode


class Attack(StrEnum):
    """The attacks offered."""

    FGSM = "fgsm"
    PGD = "pgd"


@dataclass(frozen=True)
class FoolSettings:
    """One attack: method, epsilon (L-infinity, pixel levels of [0, 1]), target class (None: untargeted), PGD steps."""

    method: Attack = Attack.FGSM
    epsilon: float = 2 / 255
    target: int | str | None = None
    steps: int = 10  # PGD only

    def __post_init__(self) -> None:
        """Coerce and check the fields; a bad one raises BadInputError with a sentence."""
        try:
            object.__setattr__(self, "method", Attack(str(self.method).lower()))
        except ValueError:
            raise BadInputError(f"unknown attack {self.method!r}; choose 'fgsm' or 'pgd'") from None
        _check(isinstance(self.steps, (int, np.integer)) and not isinstance(self.steps, bool)
               and 1 <= self.steps <= MAX_STEPS, f"PGD steps must be a whole number from 1 to {MAX_STEPS}")
        self.levels  # noqa: B018  (checks epsilon)

    @property
    def levels(self) -> int:
        """epsilon in whole 8-bit levels (epsilon x 255); BadInputError unless a whole number from 1 to MAX_LEVELS."""
        try:
            scaled = float(self.epsilon) * 255
        except (TypeError, ValueError):
            raise BadInputError(f"epsilon must be a number such as 2/255, got {self.epsilon!r}") from None
        levels = round(scaled) if np.isfinite(scaled) else 0
        _check(abs(scaled - levels) < 1e-3 and 1 <= levels <= MAX_LEVELS,
               f"epsilon must be a whole number of pixel levels from 1/255 to {MAX_LEVELS}/255 (about "
               f"{MAX_LEVELS / 255:.3f}), got {self.epsilon!r} = {scaled:.2f}/255")
        return levels

    @property
    def radius(self) -> float:
        """epsilon exactly as levels / 255."""
        return self.levels / 255

    @property
    def step_size(self) -> float:
        """PGD's step in [0, 1] pixel units."""
        return PGD_STEP_FACTOR * self.radius / self.steps


@dataclass(frozen=True, eq=False)
class FoolResult:
    """The original and adversarial pictures (model input size), the perturbation amplified, both answers and their
    Grad-CAMs, all read back through the upload path."""

    method: Attack
    levels: int  # epsilon in pixel levels (epsilon = levels / 255)
    target: int | None  # the class aimed at (None: untargeted)
    original: np.ndarray  # uint8 H x W x 3 (H x W grey): the picture attacked
    adversarial: np.ndarray  # uint8, same shape: what the PNG holds
    png: bytes  # the adversarial picture as a PNG file
    perturbation: np.ndarray  # uint8 picture of adversarial - original, amplified by gain around mid-grey
    gain: float  # how much the perturbation picture is amplified
    linf_levels: int  # the largest change of any pixel, in levels (measured on the 8-bit pictures)
    before: list[tuple[str, float]]  # top-5 (class, probability) of the original PNG
    after: list[tuple[str, float]]  # top-5 of the adversarial PNG
    cam_before: AttributionView  # Grad-CAM of the original's top class on the original
    cam_after: AttributionView  # Grad-CAM of the adversarial's top class on the adversarial picture
    fooled: bool  # untargeted: the top class changed; targeted: the top class is the target

    @property
    def scale_text(self) -> str:
        """What the perturbation picture shows."""
        return (f"perturbation amplified {self.gain:.0f}x: mid-grey is no change, full white / black is "
                f"+{self.levels} / -{self.levels} levels of 255 (epsilon = {self.levels}/255); the largest change "
                f"made is {self.linf_levels} levels")


class PixelModel(nn.Module):
    """A model fed the way Explore feeds it a picture already at its input size: the upload path's resize and centre
    crop, then the normalisation, then the model; its input is pixels in [0, 1]."""

    def __init__(self, model: nn.Module, info: Any) -> None:
        """Read the resize, crop and normalisation from the model's weights spec."""
        super().__init__()
        spec = info.weights
        _, h, w = spec.input_size
        self.model = model
        rw, rh = spec.resized_size(w, h)
        self.resized = None if (rw, rh) == (w, h) else (rh, rw)
        self.box = spec.crop_in_resized(rw, rh)
        self.mode = _RESAMPLING[spec.interpolation.lower()]
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Class scores of pictures [N, C, H, W] in [0, 1]."""
        if self.resized is not None:
            pixels = F.interpolate(pixels, size=self.resized, mode=self.mode, align_corners=False)
        left, top, right, bottom = self.box
        pixels = pixels[:, :, top:bottom, left:right]
        return logits_of(self.model((pixels - self.mean) / self.std))


def fool(explainer: Explainer, image: ImageSource, settings: FoolSettings | None = None) -> FoolResult:
    """Attack image (any source cnndemo.images opens) with settings (default: FGSM, 2/255, untargeted); every
    answer is the read-back PNG's."""
    settings = settings or FoolSettings()
    seen = model_input_image(open_image(image), explainer.info)
    original = np.asarray(seen, dtype=np.uint8)
    original_png = png_bytes(original)
    label = _label(explainer, original_png, settings.target)
    adversarial = attack_picture(explainer, original, label, settings)
    png = png_bytes(adversarial)
    return _result(explainer, settings, original, original_png, adversarial, png, label)


def attack_picture(explainer: Explainer, original: np.ndarray, label: int, settings: FoolSettings) -> np.ndarray:
    """The 8-bit adversarial picture: the attack through PixelModel (model guarded and locked), then rounded and
    kept within epsilon of the original."""
    x = pixels_of(original)
    with explainer.lock, ModelGuard(explainer.model):
        adversarial = perturb(PixelModel(explainer.model, explainer.info), x, label, settings)
    moved = (adversarial[0].permute(1, 2, 0).numpy() * 255).round().astype(np.int16)
    base = original.reshape(moved.shape).astype(np.int16)
    kept = np.clip(moved, base - settings.levels, base + settings.levels).clip(0, 255).astype(np.uint8)
    return kept.reshape(original.shape)


def pixels_of(picture: np.ndarray) -> torch.Tensor:
    """A uint8 H x W (x 3) picture as a [1, C, H, W] float tensor in [0, 1]."""
    arr = np.array(picture, dtype=np.float32).reshape(*picture.shape[:2], -1) / 255
    return torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous()


def perturb(pixel_model: nn.Module, x: torch.Tensor, label: int, settings: FoolSettings) -> torch.Tensor:
    """captum.robust's FGSM or PGD on pixels x in [0, 1] (cross-entropy of the logits; the label pushed away from,
    or towards when settings.target is set); returns the float adversarial pixels."""
    targeted, target = settings.target is not None, torch.tensor([label])
    with warnings.catch_warnings():  # captum notes each step that it made the (detached) pixels require grad
        warnings.filterwarnings("ignore", message=".*did not already require gradients.*")
        if settings.method is Attack.FGSM:
            attack = FGSM(pixel_model, loss_func=_cross_entropy, lower_bound=0.0, upper_bound=1.0)
            return attack.perturb(x, settings.radius, target, targeted=targeted).detach()
        attack = PGD(pixel_model, loss_func=_cross_entropy, lower_bound=0.0, upper_bound=1.0)
        return attack.perturb(x, settings.radius, settings.step_size, settings.steps, target,
                              targeted=targeted).detach()


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per picture (captum's default, -log of the output, needs probabilities; models give logits)."""
    return F.cross_entropy(logits, target, reduction="none")


def _label(explainer: Explainer, original_png: bytes, target: int | str | None) -> int:
    """The class to push towards (targeted) or away from (untargeted: the original's top class)."""
    rec = explainer.record(original_png)
    top = rec.top(1)[0]
    if target is None:
        return top
    index = explainer.target_index(rec, target)
    if index == top:
        raise BadInputError(f"the model already says {explainer.class_name(index)!r} for this picture; "
                            "pick another target class")
    return index


def _result(explainer: Explainer, settings: FoolSettings, original: np.ndarray, original_png: bytes,
            adversarial: np.ndarray, png: bytes, label: int) -> FoolResult:
    """Read both PNGs back through the upload path: predictions, Grad-CAMs, whether the model was fooled."""
    cam_before = explainer.attribute(original_png, ExplainSettings(method="gradcam"))
    cam_after = explainer.attribute(png, ExplainSettings(method="gradcam"))
    targeted = settings.target is not None
    fooled = cam_after.target == label if targeted else cam_after.target != cam_before.target
    perturbation, gain = amplified(original, adversarial, settings.levels)
    linf = int(np.abs(adversarial.astype(np.int16) - original.astype(np.int16)).max())
    return FoolResult(settings.method, settings.levels, label if targeted else None, original, adversarial, png,
                      perturbation, gain, linf, explainer.predict(original_png), explainer.predict(png),
                      cam_before, cam_after, bool(fooled))


def amplified(original: np.ndarray, adversarial: np.ndarray, levels: int) -> tuple[np.ndarray, float]:
    """The change as a picture, (picture, gain): mid-grey 128 for none, +-levels stretched to white / black."""
    gain = 127.0 / levels
    delta = adversarial.astype(np.float32) - original.astype(np.float32)
    return np.clip(np.rint(128 + delta * gain), 0, 255).astype(np.uint8), gain


def png_bytes(picture: np.ndarray) -> bytes:
    """A uint8 H x W (grey) or H x W x 3 picture as PNG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


def _check(ok: bool, message: str) -> None:
    """Raise BadInputError with message unless ok."""
    if not ok:
        raise BadInputError(message)
