"""Heatmaps drawn over the uploaded picture itself, not over the small model input (no gradio here).

Photo.of(picture, box) keeps the picture at display size (at most MAX_SIDE px on the long side) and the region
of it the model saw (a weights spec's crop_box: the centre crop of an ImageNet model, the whole picture for the
small-image models); Photo.heat(heatmap) lays the heatmap over that region only and dims the rest.
model_view enlarges the model's own input with nearest-neighbour, so its pixels stay visible;
colorbar draws the colour bar, with numbers. The blending itself is render.overlay's, the one overlay function.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from cnndemo.errors import BadInputError

from .render import colour_map, overlay

MAX_SIDE = 512  # long side of the drawn picture: sharp on a projector, light to send
MIN_SIDE = 256  # a tiny upload (a 28 x 28 digit) is enlarged nearest-neighbour to at least this
OUTSIDE = 0.35  # brightness kept outside the region the model saw
Box = tuple[float, float, float, float]  # left, top, right, bottom


def display_size(width: int, height: int, max_side: int = MAX_SIDE, min_side: int = MIN_SIDE) -> tuple[int, int]:
    """(width, height) a picture is drawn at: shrunk to max_side, a small one enlarged by a whole factor."""
    long = max(width, height)
    if long > max_side:
        scale = max_side / long
        return max(1, round(width * scale)), max(1, round(height * scale))
    factor = max(1, min_side // long)
    return width * factor, height * factor


@dataclass(frozen=True, eq=False)
class Photo:
    """The uploaded picture at display size and the pixel box of it the model saw."""

    pixels: np.ndarray  # uint8 H x W x 3
    box: tuple[int, int, int, int]  # left, top, right, bottom in pixels' coordinates

    @classmethod
    def of(cls, picture: Image.Image, box: Box, max_side: int = MAX_SIDE) -> Photo:
        """The picture resized for display, and box (in the picture's own pixels) scaled to match."""
        w, h = display_size(*picture.size, max_side=max_side)
        small = w < picture.size[0]
        resized = picture.convert("RGB").resize((w, h), Image.Resampling.LANCZOS if small
                                                else Image.Resampling.NEAREST)
        sx, sy = w / picture.size[0], h / picture.size[1]
        left, top, right, bottom = box
        pixel_box = (_clamp(left * sx, w), _clamp(top * sy, h), _clamp(right * sx, w), _clamp(bottom * sy, h))
        if pixel_box[2] <= pixel_box[0] or pixel_box[3] <= pixel_box[1]:
            raise BadInputError(f"the region the model saw {box} is empty in a {picture.size} picture")
        return cls(np.ascontiguousarray(np.asarray(resized, dtype=np.uint8)), pixel_box)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as drawn."""
        return self.pixels.shape[1], self.pixels.shape[0]

    def outside_dimmed(self) -> np.ndarray:
        """The picture with everything outside the model's region dimmed (the 'before' of a comparison)."""
        out = (self.pixels.astype(np.float32) * OUTSIDE + 0.5).astype(np.uint8)
        left, top, right, bottom = self.box
        out[top:bottom, left:right] = self.pixels[top:bottom, left:right]
        return out

    def heat(self, heatmap: np.ndarray, opacity: float = 0.5, cmap: str = "jet") -> np.ndarray:
        """The heatmap (values in [0, 1], any size) stretched over the model's region, the rest dimmed."""
        left, top, right, bottom = self.box
        out = self.outside_dimmed()
        region = out[top:bottom, left:right]  # the picture itself: only the outside is dimmed
        out[top:bottom, left:right] = overlay(region, fit_map(heatmap, right - left, bottom - top), opacity, cmap)
        return out


def photo_for(picture: Image.Image, spec) -> Photo:
    """The picture and the region of it a model sees, from its weights spec's crop_box(width, height)."""
    return Photo.of(picture, spec.crop_box(*picture.size))


def fit_map(heatmap: np.ndarray, width: int, height: int) -> np.ndarray:
    """A float heatmap resized to width x height, bilinearly (a smooth map stays smooth), kept in [0, 1]."""
    values = np.asarray(heatmap, dtype=np.float32)
    if values.ndim != 2:
        raise BadInputError(f"a heatmap has two dimensions, this one has shape {values.shape}")
    resized = Image.fromarray(values, mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _clamp(value: float, limit: int) -> int:
    """A box edge rounded to a pixel inside 0..limit."""
    return int(min(max(round(value), 0), limit))


def model_view(picture: np.ndarray, min_side: int = MIN_SIDE) -> np.ndarray:
    """The model's input picture enlarged by a whole factor with nearest-neighbour: every input pixel a block."""
    h, w = picture.shape[:2]
    factor = max(1, math.ceil(min_side / max(h, w)))
    return np.ascontiguousarray(picture.repeat(factor, axis=0).repeat(factor, axis=1))


def colorbar(cmap: str, top: float, label: str, width_px: int = 480, height_px: int = 80) -> np.ndarray:
    """A horizontal colour bar from 0 to top with numbered ticks (top nan: relative 0..1), as uint8 RGB (read
    only: drawn once per map, top and label, since an opacity change asks for the same bar again)."""
    known = math.isfinite(top) and top > 0
    return _colorbar(cmap, top if known else None, label if known else f"{label} (relative)", width_px, height_px)


@functools.lru_cache(maxsize=64)
def _colorbar(cmap: str, top: float | None, label: str, width_px: int, height_px: int) -> np.ndarray:
    """colorbar's picture: matplotlib takes some 70 ms to lay it out and draw it."""
    vmax = top or 1.0
    fig = Figure(figsize=(width_px / 100, height_px / 100), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    mappable = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, vmax), cmap=colour_map(cmap))
    bar = fig.colorbar(mappable, cax=ax, orientation="horizontal", label=label)
    bar.set_ticks(np.linspace(0, vmax, 5))
    bar.ax.set_xticklabels([_tick(v) for v in np.linspace(0, vmax, 5)], fontsize=8)
    bar.ax.xaxis.label.set_fontsize(8)
    fig.canvas.draw()
    picture = np.ascontiguousarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
    picture.setflags(write=False)
    return picture


def _tick(value: float) -> str:
    """A tick label with three significant digits ('0', '0.0123', '4.56e+03')."""
    return "0" if value == 0 else f"{value:.3g}"
