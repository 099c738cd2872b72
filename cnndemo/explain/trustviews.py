"""Drawings of the trust checks (no gradio): the deletion / insertion plot, the sanity strip, the ranking rows."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

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


def curves_figure(result: Faithfulness, title: str = "") -> Figure:
    """A small plot of both curves: the class probability against the share of cells deleted / inserted."""
    fig = Figure(figsize=(4.0, 2.4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(result.fractions, result.deletion, "o-", color="#d62728", ms=3,
            label=f"deletion (area {result.deletion_auc:.3f})")
    ax.plot(result.fractions, result.insertion, "o-", color="#2ca02c", ms=3,
            label=f"insertion (area {result.insertion_auc:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(1e-3, *result.deletion, *result.insertion) * 1.05)
    ax.set_xlabel("share of the picture deleted / inserted, hottest first", fontsize=8)
    ax.set_ylabel("class probability", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="best")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


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
