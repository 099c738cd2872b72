"""Drawings of the trust checks (no gradio): the deletion / insertion plot (drawn by cnndemo.figures), the sanity
strip, the ranking rows."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from cnndemo.figures import Curve, Panel, line_figure

from .faithfulness import Faithfulness
from .picture import fit_map
from .render import overlay
from .sanity import SanityResult

TILE = 150  # px a side of one strip tile
RANK_COLUMNS = ["method", "insertion - deletion", "insertion", "deletion", "avg drop", "seconds", "what it computes"]
RANK_WIDTHS = ["13%", "11%", "8%", "8%", "8%", "11%", "41%"]


def faithfulness_figure(result: Faithfulness, title: str = "") -> Figure:
    """A small plot of both curves: the class probability against the share of cells deleted / inserted."""
    x = tuple(result.fractions)
    curves = (Curve(f"deletion (area {result.deletion_auc:.3f})", x, tuple(result.deletion), color="#d62728"),
              Curve(f"insertion (area {result.insertion_auc:.3f})", x, tuple(result.insertion), color="#2ca02c"))
    top = max(1e-3, *result.deletion, *result.insertion) * 1.05
    panel = Panel(curves, xlabel="share of the picture deleted / inserted, hottest first",
                  ylabel="class probability", title=title, xlim=(0, 1), ylim=(0, top))
    return line_figure([panel], size=(4.0, 2.4), text_size=8)


def tile(display: np.ndarray, heatmap: np.ndarray, size: int = TILE) -> np.ndarray:
    """The heatmap over the model-input picture, enlarged to size x size (nearest for the picture's pixels)."""
    h, w = display.shape[:2]
    factor = max(1, math.ceil(size / max(h, w)))
    big = display.repeat(factor, axis=0).repeat(factor, axis=1)
    heat = fit_map(heatmap, big.shape[1], big.shape[0])
    return np.asarray(Image.fromarray(overlay(big, heat, 0.5)).resize((size, size), Image.Resampling.BILINEAR))


def strip(display: np.ndarray, result: SanityResult, size: int = TILE) -> np.ndarray:
    """One row of tiles (original, then each cascade stage), each captioned with its stage and correlation."""
    captions = [(label, "rank corr. " + ("n/a" if math.isnan(r) else f"{r:+.2f}"))
                for label, r in zip(result.stages, result.correlations)]
    return captioned_row([tile(display, h, size) for h in result.heatmaps], captions, size)


def captioned_row(tiles: Sequence[np.ndarray], captions: Sequence[tuple[str, str]], size: int = TILE,
                  gap: int = 6) -> np.ndarray:
    """Tiles side by side on white, two lines of text under each."""
    font = ImageFont.load_default(size=12)
    height = size + 36
    canvas = Image.new("RGB", (len(tiles) * (size + gap) - gap, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (picture, (first, second)) in enumerate(zip(tiles, captions)):
        x = i * (size + gap)
        canvas.paste(Image.fromarray(picture), (x, 0))
        draw.text((x + 2, size + 3), _fit(draw, first, font, size - 4), fill=(0, 0, 0), font=font)
        draw.text((x + 2, size + 19), second, fill=(60, 60, 60), font=font)
    return np.asarray(canvas)


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """text, shortened from the left with '...' until it fits width pixels (the layer's end is what tells)."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength("..." + text, font=font) > width:
        text = text[1:]
    return "..." + text


def rank_row(label: str, summary: str, result: Faithfulness, seconds: float) -> list:
    """One row of the ranking table (see RANK_COLUMNS)."""
    took = f"{seconds:.2f}" if seconds >= 0.005 else "0.00 (reused)"
    return [label, round(result.score, 3), round(result.insertion_auc, 3), round(result.deletion_auc, 3),
            f"{result.average_drop:.0%}", took, summary]
