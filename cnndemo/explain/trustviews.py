"""Drawings of the trust checks (no gradio): the deletion / insertion plot (drawn by cnndemo.figures), the sanity
strip, the ranking rows."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from cnndemo.figures import Curve, Panel, line_figure

from .faithfulness import CHANCE_MAPS, Faithfulness
from .picture import fit_map
from .render import overlay
from .sanity import SanityResult

TILE = 150  # px a side of one strip tile
# the ranking table's columns, each with its meaning (shown under the table)
COLUMNS = (
    ("method", "the attribution method scored, on this picture and class"),
    ("insertion - deletion", "what the table is sorted by: higher means the class probability depends more on the "
                             "cells the map marks hottest; random maps score the chance level given above the table"),
    ("insertion", "area under the class probability as the picture is revealed from a blurred copy, hottest cells "
                  "first (0 to 1, higher is better)"),
    ("deletion", "area under the class probability as the picture is blurred, hottest cells first (0 to 1, lower "
                 "is better)"),
    ("avg drop", "how much the class probability falls when each pixel is kept in proportion to the map's value "
                 "and the rest blurred (Average Drop, lower is better); in brackets, how much of the picture the "
                 "map keeps: a sparse map (the gradient methods) keeps little and drops a lot wherever it looks, a "
                 "broad one (the CAMs) keeps most and drops little, so this column is not used for the ranking"),
    ("seconds", "time this method took here (reused: its map was already made for this picture)"),
    ("what it computes", "the method in one line"),
)
RANK_COLUMNS = [name for name, _ in COLUMNS]
RANK_WIDTHS = ["13%", "11%", "8%", "8%", "10%", "10%", "40%"]


def faithfulness_figure(result: Faithfulness, title: str = "") -> Figure:
    """A small plot of both curves: the class probability against the share of cells deleted / inserted."""
    x = tuple(result.fractions)
    curves = (Curve(f"deletion (area {result.deletion_auc:.3f})", x, tuple(result.deletion), color="#d62728"),
              Curve(f"insertion (area {result.insertion_auc:.3f})", x, tuple(result.insertion), color="#2ca02c"))
    top = max(1e-3, *result.deletion, *result.insertion) * 1.05
    panel = Panel(curves, xlabel="share of the picture deleted / inserted, hottest first",
                  ylabel="class probability", title=title, xlim=(0, 1), ylim=(0, top))
    return line_figure([panel], size=(4.0, 2.4), text_size=8)


def curves_title(label: str, class_name: str, trained: bool) -> str:
    """A faithfulness chart's title: the method and its class; an untrained model's classes mean nothing yet, so
    its chart names none."""
    return f"{label}, {class_name}" if trained else f"{label}, untrained model (random weights)"


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
    """One row of the ranking table (see COLUMNS)."""
    took = f"{seconds:.2f}" if seconds >= 0.005 else "0.00 (reused)"
    return [label, round(result.score, 3), round(result.insertion_auc, 3), round(result.deletion_auc, 3),
            f"{result.average_drop:.0%} (keeps {result.kept_share:.0%})", took, summary]


def columns_text() -> str:
    """The ranking's columns and their meanings, one line each (Markdown)."""
    return "\n".join(f"- **{name}**: {meaning}" for name, meaning in COLUMNS)


def chance_text(result: Faithfulness) -> str:
    """The chance level a ranking is read against, in one sentence."""
    return (f"Random maps score **{result.score:.3f}** here (insertion {result.insertion_auc:.3f}, deletion "
            f"{result.deletion_auc:.3f}, mean of {CHANCE_MAPS} maps): the chance level; a method "
            "near it marks pixels no better than chance.")
