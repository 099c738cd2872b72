"""Pure numpy / matplotlib drawing: colour maps, channel grids, overlays, colour bars, layer arithmetic."""
from __future__ import annotations

import functools
import math
from typing import Sequence

import matplotlib
import numpy as np
import torch.nn as nn
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from cnndemo.errors import BadInputError
from cnndemo.summary import as_pair, formula_text, layer_window


def colorize(values: np.ndarray, cmap: str) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB through a 256-entry table of a matplotlib colour map."""
    # fmax first sends nan (and -inf) to 0, then fmin caps +inf at 1: nan_to_num + clip in two passes, input untouched
    index = np.fmin(np.fmax(values, 0.0), 1.0)
    index *= 255.0
    index += 0.5
    index = index.astype(np.uint8)
    return np.take(_packed_table(cmap), index).view(np.uint8).reshape(*index.shape, 4)[..., :3]


@functools.lru_cache(maxsize=64)
def _packed_table(cmap: str) -> np.ndarray:
    """The colour map's 256 RGBA entries packed as uint32 (np.take on it is ~10x faster than calling the map on
    every value), built once per map: building it costs more than colouring a 224 x 224 heatmap."""
    try:
        lut = matplotlib.colormaps[cmap]
    except KeyError:
        raise BadInputError(f"unknown colour map {cmap!r}; try jet, viridis, inferno or magma") from None
    table = np.ascontiguousarray(lut(np.linspace(0.0, 1.0, 256), bytes=True)).view(np.uint32).ravel()
    table.setflags(write=False)
    return table


def overlay(display: np.ndarray, heatmap: np.ndarray, opacity: float, cmap: str = "jet") -> np.ndarray:
    """Blend the coloured heatmap onto the uint8 H x W x 3 picture with the given opacity."""
    if not 0.0 <= opacity <= 1.0:
        raise BadInputError(f"opacity must be between 0 and 1, got {opacity}")
    if heatmap.shape != display.shape[:2]:
        raise BadInputError(f"heatmap {heatmap.shape} does not match the picture {display.shape[:2]}")
    blended = display.astype(np.float32)
    blended *= 1.0 - opacity
    blended += np.float32(opacity) * colorize(heatmap, cmap)
    blended += 0.5
    return blended.astype(np.uint8)


def colorbar_strip(cmap: str = "jet", height: int = 256, width: int = 24) -> np.ndarray:
    """A vertical colour bar image, 1 (top) to 0 (bottom), for UIs that want a picture."""
    return _strip(cmap, height, width).copy()  # a copy: the caller may draw on it


@functools.lru_cache(maxsize=64)
def _strip(cmap: str, height: int, width: int) -> np.ndarray:
    """colorbar_strip's picture, drawn once per map and size (every attribution view carries one)."""
    column = np.linspace(1.0, 0.0, height)[:, None].repeat(width, axis=1)
    strip = colorize(column, cmap)
    strip.setflags(write=False)
    return strip


def colorbar_figure(cmap: str = "jet", label: str = "attribution (0 = none, 1 = the map's top value)") -> Figure:
    """A small matplotlib figure holding only a labelled colour bar (no pyplot state involved)."""
    fig = Figure(figsize=(4.0, 0.7), layout="constrained")
    ax = fig.add_subplot()
    mappable = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=cmap)
    fig.colorbar(mappable, cax=ax, orientation="horizontal", label=label)
    return fig


def channel_grid(maps: np.ndarray, cmap: str = "viridis", min_tile: int = 96, gap: int = 4,
                 numbers: Sequence[int] | None = None) -> np.ndarray:
    """Tile N x h x w channel maps (each scaled to its own range) into one uint8 RGB grid image, each tile
    enlarged nearest-neighbour to at least min_tile px (no blur between pixels) and labelled with its channel."""
    n, h, w = maps.shape
    flat = maps.reshape(n, -1)
    lo = flat.min(axis=1)[:, None, None]
    span = flat.max(axis=1)[:, None, None] - lo
    scaled = np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0.0)
    rep = max(1, math.ceil(min_tile / max(h, w)))  # blow tiny maps (7x7) up to a readable size
    tiles = _enlarged(colorize(scaled, cmap), rep)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    th, tw = h * rep, w * rep
    grid = np.full((rows * (th + gap) - gap, cols * (tw + gap) - gap, 3), 255, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * (th + gap):r * (th + gap) + th, c * (tw + gap):c * (tw + gap) + tw] = tiles[i]
    if numbers is None:
        return grid
    return _number_tiles(grid, list(numbers)[:n], cols, th + gap, tw + gap)


def _enlarged(colours: np.ndarray, rep: int) -> np.ndarray:
    """N x h x w x 3 colours enlarged rep times nearest-neighbour: colouring first and enlarging after gives the
    same pixels as colouring enlarged maps with rep^2 less work; each pixel moves as one 3-byte item."""
    n, h, w, _ = colours.shape
    pixels = np.ascontiguousarray(colours).view("V3").reshape(n, h, w)
    return pixels.repeat(rep, axis=2).repeat(rep, axis=1).view(np.uint8).reshape(n, h * rep, w * rep, 3)


def _number_tiles(grid: np.ndarray, numbers: list[int], cols: int, step_h: int, step_w: int) -> np.ndarray:
    """Write each tile's channel number in its top-left corner, white on a dark box (readable on any colour)."""
    size = max(10, min(step_h, step_w) // 6)
    for i, number in enumerate(numbers):
        r, c = divmod(i, cols)
        y, x = r * step_h, c * step_w
        label = _label(str(number), size)
        patch = grid[y:y + label.shape[0], x:x + label.shape[1]]  # cut at the grid's edge, as drawing there would be
        patch[...] = label[:patch.shape[0], :patch.shape[1]]
    return grid


@functools.lru_cache(maxsize=4096)
def _label(text: str, size: int) -> np.ndarray:
    """The label a tile's corner gets: text at (3, 1) white on a black box reaching 3 px right of it and 2 px below,
    drawn once per text and size (drawing text with FreeType is the slow part of a channel grid)."""
    font = _font(size)
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((3, 1), text, font=font)
    picture = Image.new("RGB", (right + 4, bottom + 3), (0, 0, 0))  # the box's right and bottom edges are drawn too
    ImageDraw.Draw(picture).text((3, 1), text, fill=(255, 255, 255), font=font)
    label = np.asarray(picture).copy()
    label.setflags(write=False)
    return label


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at size px, loaded once per size."""
    return ImageFont.load_default(size=size)


def tensor_display(x, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """Undo the normalisation of a [1, C, H, W] tensor into a uint8 H x W x 3 picture."""
    img = x[0].detach().double().cpu().numpy().transpose(1, 2, 0)
    if len(mean) == img.shape[2] == len(std):
        img = img * np.asarray(std) + np.asarray(mean)
    else:
        img = (img - img.min()) / max(float(img.max() - img.min()), 1e-12)
    img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[..., :3]


SHAPED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)  # layers whose output size follows the seed's formula


def describe_layer(model: nn.Module, name: str, in_shape: tuple[int, ...] | None,
                   out_shape: tuple[int, ...]) -> str:
    """Layer type and shape change; for a conv / pool layer (or a block's first one) the formula filled in."""
    module = model.get_submodule(name)
    head = f"{type(module).__name__}: {_shape(in_shape)} -> {_shape(out_shape)}"
    inner = module if isinstance(module, SHAPED) else next(
        ((n, m) for n, m in module.named_modules() if isinstance(m, SHAPED)), None)
    if inner is None:
        return f"{head}\n{_follows(model, name)}".rstrip()
    if not in_shape or len(in_shape) != 4:
        return head
    inner_name, layer = ("", inner) if inner is module else inner
    where = f"first layer inside, {inner_name} ({type(layer).__name__}): " if inner_name else ""
    return f"{head}\n{where}{_kernel_text(layer, in_shape[2:])}\n{formula(layer, in_shape[2:])}"


def _follows(model: nn.Module, name: str) -> str:
    """For a shape-keeping layer in a Sequential (ReLU, BatchNorm): the conv / pool it follows."""
    parent_name, _, own = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if not isinstance(parent, nn.Sequential) or not own.isdigit():
        return ""
    before = [(i, parent[i]) for i in range(int(own)) if isinstance(parent[i], SHAPED)]
    if not before:
        return ""
    index, layer = before[-1]
    where = f"{parent_name}.{index}" if parent_name else str(index)
    return f"keeps the shape of {where} ({type(layer).__name__}, {_kernel_text(layer)}) before it"


def _kernel_text(layer: nn.Module, in_hw: tuple[int, int] | None = None) -> str:
    """'kernel k, stride s, padding p' of a conv / pool layer, as its forward applies them to an in_hw input
    (padding computed inside forward, such as TensorFlow 'same', included)."""
    window = layer_window(layer, (int(in_hw[0]), int(in_hw[1]))) if in_hw is not None else None
    if window is not None:
        padding = _padding(window.pad_before, window.pad_after)
        return f"kernel {_hw(window.kernel)}, stride {_hw(window.stride)}, {padding}"
    k = as_pair(layer.kernel_size)
    s = as_pair(layer.stride or layer.kernel_size)  # pooling built with stride=None strides by its kernel
    p = layer.padding if isinstance(layer.padding, str) else _hw(as_pair(layer.padding))
    return f"kernel {_hw(k)}, stride {_hw(s)}, padding {p}"


def _padding(before: tuple[int, int], after: tuple[int, int]) -> str:
    """'padding p', or both sides when they differ (TensorFlow 'same' pads one more at the bottom / right)."""
    if before == after:
        return f"padding {_hw(before)}"
    return f"padding {_hw(before)} top/left and {_hw(after)} bottom/right (TensorFlow 'same')"


def formula(layer: nn.Module, in_hw: tuple[int, ...]) -> str:
    """The seed's out = (in - k + 2p)/s + 1 with the numbers filled in (wording shared with the summary)."""
    try:
        return formula_text(layer, (int(in_hw[0]), int(in_hw[1])))
    except ValueError as err:  # a kernel larger than the padded input
        return str(err)


def _hw(v: tuple[int, int]) -> str:
    """A pair as 'a' or 'axb'."""
    return str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"


def _shape(shape: tuple[int, ...] | None) -> str:
    """A tensor shape without the batch dimension, as C x H x W."""
    return "?" if not shape else " x ".join(str(d) for d in shape[1:])
