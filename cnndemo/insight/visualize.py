"""Channel and class visualisation: the picture that most excites each of several units, found by gradient ascent.

Activation maximisation as in Olah, Mordvintsev and Schubert, "Feature Visualization" (Distill, 2017) for the
channels of a convolutional layer, and Simonyan, Vedaldi and Zisserman, "Deep Inside Convolutional Networks" (2013)
for class scores. All the units of one request are optimised together: the batch holds one picture per unit and
each picture's objective is its own unit's mean activation (or class score), so one forward + backward pass per
step serves every unit. A channel's forward pass stops at its layer: the layers after it never run.

Three regularisers make the pictures readable rather than high-frequency noise:
- the picture is held as Fourier coefficients scaled by 1/frequency, so a gradient step moves every frequency as
  much as a natural picture's 1/f spectrum has of it, instead of piling up the highest ones;
- its colours live on the principal axes of natural photos' colours (COLOR_SQRT), so a step changes brightness and
  hue independently (grey models skip this);
- every step sees each picture randomly rotated, scaled and shifted (one affine resampling per picture), so only
  patterns the unit answers at every small shift survive.

Why not Lucent (torch-lucent, the PyTorch port of Lucid)? Its last release, 0.1.8, pins kornia <= 0.4.1 (2020); with
the kornia pip installs today (0.9) its rotation transform fails ("module 'kornia' has no attribute
'get_rotation_matrix2d'"), and with the pinned one it drags a five-year-old kornia, IPython and pytest in as run-time
dependencies. It draws one jitter, scale and angle per batch from numpy's global generator (no reproducible,
per-picture transforms), renders one objective at a time by default with 512 steps, and has had no maintenance
since 2021. What it does is a page of torch code: written here, with a progress stream, a cancel and a cache.

visualize(explainer, settings, cancel) yields VizProgress messages (pictures as they form), then VizDone; the result
is kept in CACHE for the server's life, so a second request for the same units gets it at once.
"""
from __future__ import annotations

import copy
import hashlib
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Iterable, Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnndemo.errors import BadInputError
from cnndemo.explain import Explainer, ModelGuard
from cnndemo.explain.guard import layer_module, logits_of
from cnndemo.train.device import is_tiny

MIN_STEPS, MAX_STEPS = 8, 512
DEFAULT_STEPS = 32
MAX_UNITS = 16  # pictures optimised in one batch
MIN_SIDE, MAX_SIDE = 16, 256
LARGEST_DEFAULT_SIDE = 128  # ImageNet models: 128 px has a third of 224 px's pixels, and the parts still show
CACHE_SIZE = 64  # finished visualisations kept (a few hundred kB each)
PREVIEWS = 12  # intermediate pictures streamed per run
LEARNING_RATE = 0.1  # Adam's step: about 0.07 of a logit per pixel per step (see frequency_scale)
INIT_STD = 0.01  # the pictures start almost uniform grey
MAX_DEGREES = 8.0  # random rotation, each way
SCALE_RANGE = (0.9, 1.1)  # random zoom
JITTER_FRACTION = 1 / 16  # random shift, each way, as a fraction of the side
# The principal axes of natural photos' colours, each scaled by the square root of its variance and all divided by
# the largest one's length: measured on cnndemo.examples' colour photos (the RGB covariance of all their pixels);
# tests/test_visualize.py measures it again.
COLOR_SQRT = torch.tensor([[0.0299, -0.3125, -0.6375],
                           [-0.0809, 0.0876, -0.5830],
                           [0.0558, 0.2942, -0.5037]])


class Objective(StrEnum):
    """What a unit is: a channel of a layer, or a class score."""

    CHANNEL = "channel"  # the channel's mean activation over the layer's positions
    CLASS = "class"  # the class's score (logit) before the softmax

    @property
    def meaning(self) -> str:
        """What a response number is, for people."""
        return _MEANINGS[self]


_MEANINGS = {Objective.CHANNEL: "the channel's mean activation over the layer's positions",
             Objective.CLASS: "the class's score (logit) before the softmax"}


@dataclass(frozen=True)
class VisualizeSettings:
    """One request: the units (channels of layer, or classes), steps of gradient ascent, side in px, seed."""

    layer: str = ""  # the layer whose channels are the units; unused for classes
    units: tuple[int, ...] = (0,)
    steps: int = DEFAULT_STEPS
    size: int | None = None  # side of the square pictures; None: the model's input side, at most 128 px
    objective: Objective = Objective.CHANNEL
    seed: int = 0

    def __post_init__(self) -> None:
        """Coerce and check every field; a bad one raises BadInputError with a sentence."""
        object.__setattr__(self, "objective", _objective(self.objective))
        object.__setattr__(self, "units", _units(self.units, self.objective))
        _check(_whole(self.steps) and MIN_STEPS <= self.steps <= MAX_STEPS,
               f"steps must be a whole number from {MIN_STEPS} to {MAX_STEPS}, got {self.steps!r}")
        _check(self.size is None or (_whole(self.size) and MIN_SIDE <= self.size <= MAX_SIDE),
               f"the picture side must be a whole number of pixels from {MIN_SIDE} to {MAX_SIDE}, got {self.size!r}")
        _check(self.objective is Objective.CLASS or (isinstance(self.layer, str) and bool(self.layer)),
               "pick a layer whose channels to visualise")
        _check(_whole(self.seed), f"the seed must be a whole number, got {self.seed!r}")

    def side(self, info: Any) -> int:
        """The side of the pictures for a model: the one asked for, else default_side(info)."""
        return self.size or default_side(info)


@dataclass(frozen=True, eq=False)
class Visualization:
    """The finished pictures, one per unit, and how strongly each unit answers each picture."""

    model: str
    layer: str  # "" for classes
    objective: Objective
    units: tuple[int, ...]
    labels: tuple[str, ...]  # "channel 5" / the class name
    pictures: tuple[np.ndarray, ...]  # uint8 H x W x 3 (H x W for grey models): what the model was fed, 8-bit
    responses: np.ndarray  # float32 [unit i, picture j]: unit i's response (objective.meaning) to picture j
    size: int
    steps: int
    seconds: float  # time the optimisation took

    def own(self, i: int) -> float:
        """Unit i's response to its own picture."""
        return float(self.responses[i, i])

    def best_other(self, i: int) -> float | None:
        """Unit i's strongest response to the other units' pictures (None with one unit)."""
        others = np.delete(self.responses[i], i)
        return float(others.max()) if others.size else None

    def caption(self, i: int) -> str:
        """'channel 5: 3.21 on its own picture, at most 0.80 on the others' with what the numbers are."""
        other = self.best_other(i)
        rest = "" if other is None else f", at most {other:.3g} on the others'"
        return f"{self.labels[i]}: {self.own(i):.3g} on its own picture{rest} ({self.objective.meaning})"


@dataclass(frozen=True, eq=False)
class VizProgress:
    """The pictures after step of total steps, with each unit's score on its (jittered) picture."""

    step: int
    total: int
    pictures: tuple[np.ndarray, ...]
    scores: tuple[float, ...]

    @property
    def fraction(self) -> float:
        """How far the run is, 0..1, for a progress bar."""
        return self.step / self.total


@dataclass(frozen=True, eq=False)
class VizDone:
    """The finished visualisation; cached: it was kept from an earlier identical request."""

    result: Visualization
    cached: bool = False


@dataclass(frozen=True)
class VizCancelled:
    """The run was cancelled after step of total steps; nothing was kept."""

    step: int
    total: int

    @property
    def sentence(self) -> str:
        """What happened, for people."""
        return f"Cancelled after {self.step} of {self.total} steps; nothing was kept. Start it again to finish it."


VizMessage = VizProgress | VizDone | VizCancelled


class VisualizationCache:
    """Finished visualisations for the server's life: at most max_entries, least recently used dropped."""

    def __init__(self, max_entries: int = CACHE_SIZE) -> None:
        """An empty cache; thread-safe."""
        self.max_entries = max_entries
        self._items: OrderedDict[tuple, Visualization] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Visualization | None:
        """The kept result for key, or None."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple, value: Visualization) -> None:
        """Keep value under key, dropping the least recently used past max_entries."""
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        """Number of kept results."""
        return len(self._items)


CACHE = VisualizationCache()


def visualize(explainer: Explainer, settings: VisualizeSettings, cancel: threading.Event | None = None,
              cache: VisualizationCache = CACHE) -> Iterator[VizMessage]:
    """Optimise one picture per unit, all in one batch: yields VizProgress as the pictures form, then VizDone (at
    once for a request answered before) or VizCancelled. Works on a private copy: the model is left as it was."""
    size = settings.side(explainer.info)
    with explainer.lock:  # no explain call holds hooks on the model while it is read and copied
        key = (explainer.info.name, weights_digest(explainer.model), settings, size)
        done = cache.get(key)
        twin = None if done is not None else lean_copy(explainer.model)
    if done is not None:
        yield VizDone(done, cached=True)
        return
    for message in _optimise(twin, explainer.info, settings, size, cancel):
        if isinstance(message, VizDone):
            cache.put(key, message.result)
        yield message


def run_visualization(explainer: Explainer, settings: VisualizeSettings,
                      cancel: threading.Event | None = None, cache: VisualizationCache = CACHE) -> Visualization:
    """visualize() to the end: the finished result (BadInputError when cancelled)."""
    for message in visualize(explainer, settings, cancel, cache):
        if isinstance(message, VizCancelled):
            raise BadInputError(message.sentence)
        if isinstance(message, VizDone):
            return message.result
    raise RuntimeError("visualize() ended without a result")


def channel_counts(explainer: Explainer, size: int | None = None) -> dict[str, int]:
    """Every layer whose output is channel maps, with its number of channels (one forward pass at the given side)."""
    info, side = explainer.info, size or default_side(explainer.info)
    counts: dict[str, int] = {}
    with explainer.lock, ModelGuard(explainer.model) as guard, torch.no_grad():
        for name, module in explainer.model.named_modules():
            if name:
                guard.hook(module, lambda m, i, out, name=name: _count(counts, name, out))
        explainer.model(_grey(info.input_size[0], side))
    return counts


def _count(counts: dict[str, int], name: str, output: Any) -> None:
    """Note a layer's channel count when its output is [N, C, H, W]."""
    if isinstance(output, torch.Tensor) and output.dim() == 4:
        counts[name] = int(output.shape[1])


def _optimise(twin: nn.Module, info: Any, settings: VisualizeSettings, size: int,
              cancel: threading.Event | None) -> Iterator[VizMessage]:
    """The gradient ascent on a private copy of the model, inside a guard (eval mode, frozen weights)."""
    started = time.perf_counter()
    with ModelGuard(twin) as guard:
        scorer = _Scorer(twin, guard, info, settings, size)
        gen = torch.Generator().manual_seed(settings.seed)
        image = FourierImage(len(settings.units), info.input_size[0], size, gen)
        optimiser = torch.optim.Adam([image.coeffs], lr=LEARNING_RATE)
        every = max(1, settings.steps // PREVIEWS)
        for step in range(1, settings.steps + 1):
            if cancel is not None and cancel.is_set():
                yield VizCancelled(step - 1, settings.steps)
                return
            scores = _ascend(image, scorer, optimiser, gen)
            if step % every == 0 or step == settings.steps:
                yield VizProgress(step, settings.steps, to_pictures(image.picture().detach()), scores)
        result = _finish(image, scorer, info, settings, size, time.perf_counter() - started)
    yield VizDone(result)


def _ascend(image: FourierImage, scorer: _Scorer, optimiser: torch.optim.Optimizer,
            gen: torch.Generator) -> tuple[float, ...]:
    """One step: every picture jittered, its own unit's score raised; returns the scores before the step."""
    scores = scorer.own(jittered(image.picture(), gen))
    optimiser.zero_grad(set_to_none=True)
    (-scores.sum()).backward()
    optimiser.step()
    return tuple(float(s) for s in scores.detach())


def _finish(image: FourierImage, scorer: _Scorer, info: Any, settings: VisualizeSettings, size: int,
            seconds: float) -> Visualization:
    """The 8-bit pictures and every unit's response to every one of them (no jitter)."""
    pictures = to_pictures(image.picture().detach())
    with torch.no_grad():
        fed = torch.stack([torch.from_numpy(p).float().reshape(size, size, -1).permute(2, 0, 1) for p in pictures])
        responses = scorer.responses(fed / 255.0).T.contiguous().numpy().astype(np.float32)
    labels = tuple(_label(info, settings.objective, u) for u in settings.units)
    return Visualization(info.name, settings.layer if settings.objective is Objective.CHANNEL else "",
                         settings.objective, settings.units, labels, pictures, responses, size, settings.steps, seconds)


class _Reached(Exception):
    """Raised by the layer's hook: the forward pass has what it needs and stops there."""


class _Scorer:
    """Reads each picture's units: a channel's mean over the layer's positions (the forward pass stops at the
    layer), or a class score."""

    def __init__(self, model: nn.Module, guard: ModelGuard, info: Any, settings: VisualizeSettings, size: int) -> None:
        """Hook the layer, then check the request against what the layer gives (BadInputError with a sentence)."""
        self.model, self.objective, self.layer = model, settings.objective, settings.layer
        self.units = torch.tensor(settings.units)
        self.mean = torch.tensor(info.mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(info.std, dtype=torch.float32).view(1, -1, 1, 1)
        self._out: Any = None
        self.layout = layout_for(model)
        if self.objective is Objective.CHANNEL:
            guard.hook(layer_module(model, settings.layer), self._catch)
        self._check(_grey(info.input_size[0], size), size)

    def _catch(self, module: nn.Module, inputs: Any, output: Any) -> None:
        """Keep the layer's output and stop the forward pass."""
        self._out = output
        raise _Reached

    def _output(self, pictures: torch.Tensor) -> torch.Tensor:
        """The layer's output (or the class scores) for pictures in [0, 1]."""
        self._out = None
        try:
            x = ((pictures - self.mean) / self.std).contiguous(memory_format=self.layout)
            scores = logits_of(self.model(x))
        except _Reached:
            return self._out
        if self.objective is Objective.CHANNEL:
            raise BadInputError(f"layer {self.layer!r} does not run for this input; pick another layer")
        return scores

    def responses(self, pictures: torch.Tensor) -> torch.Tensor:
        """[picture, unit]: every unit's response to every picture."""
        out = self._output(pictures)
        if self.objective is Objective.CLASS:
            return out[:, self.units]
        return out[:, self.units].mean(dim=(2, 3))

    def own(self, pictures: torch.Tensor) -> torch.Tensor:
        """[picture]: each picture's response of its own unit (picture i belongs to unit i)."""
        out = self._output(pictures)
        mine = out[torch.arange(len(self.units)), self.units]
        return mine if self.objective is Objective.CLASS else mine.mean(dim=(1, 2))

    def _check(self, probe: torch.Tensor, size: int) -> None:
        """One forward pass of a grey picture: the layer must give channel maps, and every unit must exist."""
        try:
            with torch.no_grad():
                out = self._output(probe)
        except RuntimeError as err:
            raise BadInputError(f"the model cannot take a {size}x{size} picture ({str(err)[:160]})") from None
        if not isinstance(out, torch.Tensor) or (self.objective is Objective.CHANNEL and out.dim() != 4):
            shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else type(out).__name__
            raise BadInputError(f"layer {self.layer!r} gives {shape}, not channel maps (channels x height x width): "
                                "pick a convolutional layer, or visualise a class")
        _check_units(self.units.tolist(), int(out.shape[1]), self.objective, self.layer)


class FrozenAffine(nn.Module):
    """An eval-mode BatchNorm2d as the per-channel affine map it computes, y = x * scale + shift: the same numbers,
    with a backward pass of one multiply (batch norm's own backward took a third of EfficientNet's step on a CPU)."""

    def __init__(self, bn: nn.BatchNorm2d) -> None:
        """The scale and shift of bn's running statistics and affine weights."""
        super().__init__()
        with torch.no_grad():
            scale = torch.rsqrt(bn.running_var.float() + bn.eps)
            scale = scale * bn.weight.float() if bn.weight is not None else scale
            shift = -bn.running_mean.float() * scale + (bn.bias.float() if bn.bias is not None else 0.0)
        self.register_buffer("scale", scale.view(1, -1, 1, 1))
        self.register_buffer("shift", shift.view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x * scale + shift, per channel."""
        return torch.addcmul(self.shift, x, self.scale)


def lean_copy(model: nn.Module) -> nn.Module:
    """A private copy of model for the optimisation, in eval mode: its batch norms (with running statistics) as
    FrozenAffine, and in channels_last where oneDNN's convolutions want it (models that are not tiny)."""
    twin = copy.deepcopy(model).eval()
    for name, module in list(twin.named_modules()):
        if isinstance(module, nn.BatchNorm2d) and module.running_var is not None:
            parent, _, attr = name.rpartition(".")
            setattr(twin.get_submodule(parent) if parent else twin, attr, FrozenAffine(module))
    return twin.to(memory_format=layout_for(twin))


def layout_for(model: nn.Module) -> torch.memory_format:
    """channels_last for models that are not tiny (oneDNN's convolutions run faster in it on a CPU), else NCHW."""
    return torch.contiguous_format if is_tiny(model) else torch.channels_last


class FourierImage:
    """A batch of pictures held as Fourier coefficients scaled by 1/frequency, in decorrelated colour; picture()
    maps them to pixels in [0, 1] through a sigmoid."""

    def __init__(self, batch: int, channels: int, size: int, gen: torch.Generator) -> None:
        """Random coefficients close to zero: pictures of almost uniform grey."""
        self.size, self.channels = size, channels
        shape = (batch, channels, size, size // 2 + 1, 2)
        self.coeffs = (torch.randn(shape, generator=gen) * INIT_STD).requires_grad_(True)
        self.scale = frequency_scale(size)

    def picture(self) -> torch.Tensor:
        """[batch, channels, size, size] pixels in [0, 1]."""
        spectrum = torch.view_as_complex(self.coeffs) * self.scale
        z = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho")
        if self.channels == 3:
            z = torch.einsum("bchw,dc->bdhw", z, COLOR_SQRT)
        return torch.sigmoid(z)


def frequency_scale(size: int) -> torch.Tensor:
    """1/frequency for the rfft2 grid of a size x size picture (the lowest frequency stands in for zero), divided by
    its root mean square: equal coefficients give about unit RMS pixels whatever the size, so one learning rate
    serves every side."""
    fy = torch.fft.fftfreq(size)[:, None]
    fx = torch.fft.rfftfreq(size)[None, :]
    inverse = 1.0 / torch.sqrt(fx ** 2 + fy ** 2).clamp(min=1.0 / size)
    return inverse / inverse.pow(2).mean().sqrt()


def jittered(pictures: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each picture rotated, scaled and shifted at random, in one affine resampling (edges mirrored)."""
    b, _, h, _ = pictures.shape
    angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(MAX_DEGREES)
    zoom = SCALE_RANGE[0] + torch.rand(b, generator=gen) * (SCALE_RANGE[1] - SCALE_RANGE[0])
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * (2 * JITTER_FRACTION)  # grid units: 2 = the whole side
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(pictures.shape), align_corners=False)
    return F.grid_sample(pictures, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def to_pictures(pixels: torch.Tensor) -> tuple[np.ndarray, ...]:
    """uint8 H x W x 3 (or H x W for one channel) pictures of a [B, C, H, W] batch in [0, 1]."""
    arr = (pixels.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return tuple(np.ascontiguousarray(a[:, :, 0] if a.shape[2] == 1 else a) for a in arr)


def weights_digest(model: nn.Module) -> str:
    """A digest of every parameter and buffer: the same weights give the same digest, others (retrained, random)
    differ; it keys the cache."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def default_side(info: Any) -> int:
    """The side pictures of a model get when none is asked for: its input side, at most LARGEST_DEFAULT_SIDE."""
    return min(max(info.input_size[1:]), LARGEST_DEFAULT_SIDE)


def _grey(channels: int, size: int) -> torch.Tensor:
    """One mid-grey picture in [0, 1] (the probe of a forward pass)."""
    return torch.full((1, channels, size, size), 0.5)


def _label(info: Any, objective: Objective, unit: int) -> str:
    """'channel 5', or the class's name."""
    if objective is Objective.CHANNEL:
        return f"channel {unit}"
    return info.classes[unit] if unit < len(info.classes) else f"class {unit}"


def _check_units(units: list[int], available: int, objective: Objective, layer: str) -> None:
    """Every unit must be below the count the layer (or the class scores) has."""
    bad = [u for u in units if u >= available]
    if not bad:
        return
    what = f"layer {layer!r} has {available} channels" if objective is Objective.CHANNEL else \
        f"the model has {available} classes"
    raise BadInputError(f"{objective.value} {bad[0]} is out of range: {what} (0..{available - 1})")


def _objective(value: Any) -> Objective:
    """An Objective from itself or its name."""
    try:
        return Objective(value)
    except ValueError:
        raise BadInputError(f"unknown objective {value!r}; choose 'channel' or 'class'") from None


def _units(units: Any, objective: Objective) -> tuple[int, ...]:
    """The units as a tuple of distinct whole numbers >= 0, 1 to MAX_UNITS of them."""
    values = tuple(units) if isinstance(units, Iterable) and not isinstance(units, str) else (units,)
    _check(all(_whole(u) and u >= 0 for u in values),
           f"{objective.value}s must be whole numbers from 0, got {list(values)!r}")
    _check(1 <= len(values) <= MAX_UNITS, f"pick 1 to {MAX_UNITS} {objective.value}s, got {len(values)}")
    _check(len(set(values)) == len(values), f"each {objective.value} once, please: got {list(values)!r}")
    return tuple(int(u) for u in values)


def _whole(value: Any) -> bool:
    """True for an int (numpy's too), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check(ok: bool, message: str) -> None:
    """Raise BadInputError with message unless ok."""
    if not ok:
        raise BadInputError(message)
