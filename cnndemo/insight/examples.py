"""Dataset examples: the pictures of a data set that excite each channel of a layer most, and the patch of each
that the channel sees (Zeiler and Fergus 2014; the "dataset examples" of OpenAI Microscope).

One pass over the data set keeps, per channel, a running top-k of its strongest response in each picture (the
maximum over the layer's positions) and where that was; no activation map is stored. The patch is the receptive
field of that position, read from the Learn tab's trace of the model (cnndemo.learn.Field.box), not worked out
here. Browsing channels reads what the pass kept: the model does not run again. A pass is kept per (model,
weights, layer, data set) for the server's life, the least recently used dropped beyond a bound."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnndemo.data import BatchSpec, TensorData, to_input
from cnndemo.errors import BadInputError
from cnndemo.explain.guard import ModelGuard, layer_module
from cnndemo.learn import Field, shape_model, trace
from cnndemo.models import ModelInfo

from .kept import Kept, first_tensor, private_copy, weights_key
from .pictures import Pictures, Source, load_pictures, source_key

Progress = Callable[[int, int], None]  # (pictures done, pictures in all)


@dataclass(frozen=True)
class ExampleSettings:
    """How many examples per channel, and over how many pictures."""

    k: int = 9  # examples kept per channel
    max_pictures: int = 2000  # the pass runs over at most this many pictures of the data set
    min_pictures: int = 20  # fewer, and every channel would show nearly the same pictures
    batch_size: int = 100


@dataclass(frozen=True)
class LayerMaps:
    """What a layer outputs for one picture: channels, map size, and the receptive field of one position."""

    layer: str
    channels: int
    size: tuple[int, int]
    field: Field


@dataclass(frozen=True, eq=False)
class ExamplesPass:
    """What one pass over a data set kept for every channel of a layer: its k strongest responses."""

    model: str
    maps: LayerMaps
    dataset: str  # names the pictures for a student
    classes: tuple[str, ...]
    input_size: tuple[int, int, int]
    values: torch.Tensor  # (k, C): each channel's strongest response in a picture, the strongest picture first
    pictures: torch.Tensor  # (k, C): those pictures' numbers in the data set
    positions: torch.Tensor  # (k, C, 2): row and column of that response in the layer's map
    kept: TensorData  # the pictures some channel keeps, in the order of kept_numbers
    kept_numbers: torch.Tensor  # their numbers in the data set, ascending
    count: int  # pictures the pass ran over
    seconds: float

    @property
    def channels(self) -> int:
        """How many channels the layer has."""
        return self.values.shape[1]


@dataclass(frozen=True)
class Example:
    """One of a channel's top pictures: where it responds most, and the patch of the picture it sees there."""

    number: int  # the picture's number in the data set
    label: str  # its class
    value: float  # the channel's strongest response in it
    position: tuple[int, int]  # (row, column) in the layer's map
    box: tuple[int, int, int, int]  # (top, left, bottom, right) of the receptive field, in model-input pixels
    picture: np.ndarray  # (H, W, 3) uint8: the picture at the model's input size, as the model sees it

    @property
    def patch(self) -> np.ndarray:
        """The pixels of the box: what the channel sees at its strongest position."""
        top, left, bottom, right = self.box
        return self.picture[top:bottom, left:right]


@dataclass(frozen=True)
class ChannelExamples:
    """A channel's top pictures and patches, with a caption that says what they are."""

    layer: str
    channel: int
    examples: tuple[Example, ...]
    caption: str


PASSES: Kept[ExamplesPass] = Kept(max_items=8)  # the server's passes; a 2,000-picture pass keeps < 20 MB


def dataset_examples(model: nn.Module, info: ModelInfo, layer: str, source: Source,
                     settings: ExampleSettings = ExampleSettings(), progress: Progress | None = None,
                     kept: Kept[ExamplesPass] = PASSES) -> ExamplesPass:
    """The pass over source for every channel of layer, run once per (model, weights, layer, data set, settings)
    and then read from kept."""
    key = ("examples", info.name, info.input_size, weights_key(model), layer,
           source_key(source, settings.max_pictures), settings)

    def build() -> ExamplesPass:
        """Check the layer, read the pictures, run the pass."""
        maps = layer_maps(info, layer)  # a bad layer is refused before the pictures are read
        pictures = load_pictures(source, settings.max_pictures, max(settings.min_pictures, settings.k))
        return record(model, info, maps, pictures, settings, progress)
    return kept.get(key, build)


def layer_maps(info: ModelInfo, layer: str) -> LayerMaps:
    """The layer's channels, map size and receptive field, from the Learn tab's trace of the model's shapes."""
    tr = trace(*shape_model(info))
    call = tr.call(layer) if isinstance(layer, str) else None
    if call is None:
        names = [n for n, cs in tr.calls.items() if n and cs[0].out_shape and len(cs[0].out_shape) == 4]
        more = f" and {len(names) - 12} more" if len(names) > 12 else ""
        raise BadInputError(f"{info.name} has no layer {layer!r} that runs in its forward; layers with channels "
                            f"include {', '.join(names[:12])}{more}")
    if call.out_shape is None or len(call.out_shape) != 4 or call.rf is None:
        shape = "nothing" if call.out_shape is None else "x".join(map(str, call.out_shape[1:]))
        raise BadInputError(f"layer {layer!r} of {info.name} has no channels: it gives {shape}, not maps of "
                            "channels x height x width; pick a convolutional layer or block")
    return LayerMaps(layer, call.out_shape[1], tuple(call.out_shape[2:]), call.rf)


class _Enough(Exception):
    """Ends a forward once the layer has run (the rest of the model is not needed)."""


class _TopK:
    """Per channel, the k strongest responses seen so far, with their pictures and positions."""

    def __init__(self, k: int) -> None:
        """Nothing seen yet."""
        self.k, self.offset = k, 0
        self.values = self.pictures = self.flat = None

    def hook(self, module: nn.Module, inputs: tuple, output: object) -> None:
        """Forward hook on the layer: fold the batch in, then stop the forward."""
        self.add(first_tensor(output))
        raise _Enough

    def add(self, out: torch.Tensor) -> None:
        """Fold one batch of maps (B, C, H, W) into the running top-k."""
        values, flat = _strongest(out.detach().float())
        pictures = torch.arange(self.offset, self.offset + len(values)).unsqueeze(1).expand_as(values)
        if self.values is not None:
            values, pictures = torch.cat([self.values, values]), torch.cat([self.pictures, pictures])
            flat = torch.cat([self.flat, flat])
        self.values, order = values.topk(min(self.k, len(values)), dim=0)
        self.pictures, self.flat = pictures.gather(0, order), flat.gather(0, order)
        self.offset += len(out)


def _strongest(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each (picture, channel)'s maximum over positions and the flat position (row * W + column) of it."""
    b, c, h, w = out.shape
    if out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous():
        return out.permute(0, 2, 3, 1).reshape(b, h * w, c).max(1)  # a view: no copy of the maps
    return out.reshape(b, c, h * w).max(2)


def record(model: nn.Module, info: ModelInfo, maps: LayerMaps, pictures: Pictures,
           settings: ExampleSettings = ExampleSettings(), progress: Progress | None = None) -> ExamplesPass:
    """One pass over the pictures, keeping every channel's top-k (the model is left as it was found)."""
    start, data = time.perf_counter(), pictures.data
    top, spec = _TopK(settings.k), BatchSpec(info.input_size, info.mean, info.std)
    model = private_copy(model)  # the served model may be running other students' requests meanwhile
    module = layer_module(model, maps.layer)
    with ModelGuard(model) as guard, torch.inference_mode():
        guard.hook(module, top.hook)
        for i in range(0, len(data), settings.batch_size):
            try:
                model(to_input(data.images[i:i + settings.batch_size], spec))
            except _Enough:
                pass
            if progress is not None:
                progress(min(i + settings.batch_size, len(data)), len(data))
    if top.values is None or top.values.shape[1] != maps.channels:
        raise RuntimeError(f"layer {maps.layer!r} did not give the {maps.channels} channels its trace showed")
    w = maps.size[1]
    numbers = top.pictures.unique()  # sorted
    return ExamplesPass(info.name, maps, pictures.label, data.classes, info.input_size, top.values, top.pictures,
                        torch.stack([top.flat // w, top.flat % w], -1), data.subset(numbers), numbers, len(data),
                        time.perf_counter() - start)


def channel_examples(kept: ExamplesPass, channel: int) -> ChannelExamples:
    """A channel's top pictures with the patch each shows it, read from the pass (the model does not run)."""
    if not isinstance(channel, int) or not 0 <= channel < kept.channels:
        raise BadInputError(f"layer {kept.maps.layer!r} has channels 0 to {kept.channels - 1}, not {channel!r}")
    numbers = kept.pictures[:, channel]
    rows = torch.searchsorted(kept.kept_numbers, numbers.contiguous())
    seen = model_view(kept.kept.images[rows], kept.input_size)
    hw = kept.input_size[1:]
    examples = tuple(
        Example(int(n), kept.classes[int(kept.kept.labels[r])], float(v), (int(p[0]), int(p[1])),
                kept.maps.field.box(int(p[0]), int(p[1]), hw), seen[i])
        for i, (n, r, v, p) in enumerate(zip(numbers, rows, kept.values[:, channel], kept.positions[:, channel])))
    return ChannelExamples(kept.maps.layer, channel, examples, _caption(kept, channel))


def model_view(images: torch.Tensor, input_size: tuple[int, int, int]) -> np.ndarray:
    """uint8 pictures (N, C, h, w) as (N, H, W, 3) uint8 at the model's input size: the resize and colour mode
    of the pass, without the normalisation."""
    c = input_size[0]
    x = to_input(images, BatchSpec(input_size, (0.0,) * c, (1.0,) * c))
    x = x.expand(-1, 3, -1, -1) if c == 1 else x
    return x.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def ranked_channels(kept: ExamplesPass) -> list[int]:
    """The layer's channels by their strongest response over the data set, strongest first."""
    return kept.values[0].argsort(descending=True).tolist()


def _caption(kept: ExamplesPass, channel: int) -> str:
    """What the pictures and boxes are, with the numbers that size them."""
    maps, best = kept.maps, float(kept.values[0, channel])
    h, w = kept.input_size[1:]
    rf = "the whole picture" if maps.field.size is None else (
        f"its receptive field, {maps.field.size[0]}x{maps.field.size[1]} pixels of the {h}x{w} input (clipped at "
        f"the edges), one map step = {maps.field.jump[0]} input pixel{'s' * (maps.field.jump[0] != 1)}")
    text = (f"Channel {channel} of {maps.layer} ({maps.channels} channels, {maps.size[0]}x{maps.size[1]} maps): "
            f"the {len(kept.values)} pictures where it responds most (strongest {best:.3g}), out of "
            f"{kept.dataset}. "
            f"Each box is where in the picture it responds most: {rf}.")
    if best <= 0:
        text += " It never responds above 0 on these pictures (a dead channel here): its examples are arbitrary."
    return text


def examples_figure(view: ChannelExamples, columns: int = 9) -> Figure:
    """The top pictures with their boxes above, the patches enlarged below (legible at 1280x720)."""
    n = len(view.examples)
    cols = min(columns, max(n, 1))
    rows = 2 * -(-n // cols)
    fig = Figure(figsize=(12.8, 1.6 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for i, ex in enumerate(view.examples):
        top, patch = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        top.imshow(ex.picture, interpolation="nearest")
        y0, x0, y1, x1 = ex.box
        top.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, color="red", lw=2))
        top.set_title(f"{ex.label}\n{ex.value:.2f}", fontsize=9)
        patch.imshow(ex.patch, interpolation="nearest")
    fig.suptitle(f"{view.layer}, channel {view.channel}: pictures (box: what it sees) and patches", fontsize=11)
    return fig
