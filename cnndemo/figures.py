"""Matplotlib figures (no gradio here): line_figure draws every curve plot of the app (the Train tab's training
curves, the Explore tab's deletion / insertion curves) from panels of curves; and the confusion matrix."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

MAX_COUNTED = 30  # classes up to which every cell's count is written in (beyond, the digits would not fit)


@dataclass(frozen=True)
class Curve:
    """One line of a plot: its legend label, its points and how they are drawn."""

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    marker: str | None = "o"
    color: str | None = None


@dataclass(frozen=True)
class Panel:
    """One axes of a figure: its curves, axis labels and limits, and notes written beside points."""

    curves: tuple[Curve, ...]
    xlabel: str = ""
    ylabel: str = ""
    title: str = ""
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    whole_x: bool = False  # integer ticks on x (no step 2.5 or epoch 1.5)
    notes: tuple[tuple[str, float, float], ...] = ()  # (text, x, y) written right of a point, stacked by y


def line_figure(panels: list[Panel], size: tuple[float, float], text_size: float | None = None) -> Figure:
    """The panels side by side in one figure; text_size: axis labels at that size, ticks and legend one smaller,
    titles one larger (None: matplotlib's sizes, the legend at 8)."""
    fig = Figure(figsize=size, dpi=100, tight_layout=True)
    for ax, panel in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        _draw(ax, panel, text_size)
    return fig


def _draw(ax, panel: Panel, text_size: float | None) -> None:
    """One panel's curves, labels, limits and notes on ax."""
    small = text_size - 1 if text_size else None
    for c in panel.curves:
        ax.plot(c.x, c.y, marker=c.marker, ms=3, color=c.color, label=c.label, linestyle="-")
    ax.set_xlabel(panel.xlabel, fontsize=text_size)
    ax.set_ylabel(panel.ylabel, fontsize=text_size)
    ax.set_title(panel.title, fontsize=text_size + 1 if text_size else None)
    if small:
        ax.tick_params(labelsize=small)
    if panel.whole_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if panel.xlim:
        ax.set_xlim(*panel.xlim)
    if panel.ylim:
        ax.set_ylim(*panel.ylim)
    ranked = sorted(panel.notes, key=lambda note: -note[2])
    for k, (text, x, y) in enumerate(ranked):  # one note a line below the other, highest first: equal y cannot clash
        ax.annotate(text, (x, y), fontsize=8, xytext=(8, 12 * ((len(ranked) - 1) / 2 - k)),
                    textcoords="offset points", va="center")
    if panel.curves:
        ax.legend(fontsize=small or 8, loc="best")


def curves_figure(steps: list[dict], epochs: list[dict]) -> Figure:
    """Loss against step and accuracy against epoch, train and test, as one matplotlib figure."""
    return line_figure(training_panels(steps, epochs), size=(9, 3.2))


def training_panels(steps: list[dict], epochs: list[dict]) -> list[Panel]:
    """The loss panel (per step) and the accuracy panel (per epoch) of a run's points {x, "value", "curve"}."""
    loss = Panel(_curves(steps, "step"), xlabel="step", title="loss", whole_x=True)
    acc = Panel(_curves(epochs, "epoch"), xlabel="epoch", title="accuracy", whole_x=True, ylim=(-0.02, 1.02))
    if epochs and len({p["epoch"] for p in epochs}) == 1:  # one epoch: single points, so frame and label them
        at = epochs[0]["epoch"]
        notes = tuple((f"{p['curve']} {100 * p['value']:.0f} %", p["epoch"], p["value"]) for p in epochs)
        acc = replace(acc, xlim=(at - 1, at + 1), notes=notes)
    return [loss, acc]


def _curves(points: list[dict], x: str) -> tuple[Curve, ...]:
    """One Curve per curve name of points, in order of first appearance (epochs and test losses marked)."""
    curves = []
    for name in dict.fromkeys(p["curve"] for p in points):
        xs, ys = zip(*[(p[x], p["value"]) for p in points if p["curve"] == name])
        curves.append(Curve(name, xs, ys, marker="o" if x == "epoch" or "test" in name else None))
    return tuple(curves)


def confusion_figure(matrix: list[list[int]], classes) -> Figure:
    """The confusion matrix (rows: true class, columns: predicted) with the count of test images in every cell."""
    counts = np.asarray(matrix)
    n = len(classes)
    side = min(9.0, 2.6 + 0.6 * n)
    fig = Figure(figsize=(side + 0.8, side), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues", vmin=0)
    font = 11 if n <= 10 else 9 if n <= 16 else 7
    if n <= MAX_COUNTED:
        dark = 0.55 * max(int(counts.max()), 1)  # white ink on the darkest cells
        for (i, j), v in np.ndenumerate(counts):
            ax.text(j, i, f"{v:,}", ha="center", va="center", fontsize=font, color="white" if v > dark else "black")
    ticks = 10 if n <= 10 else 8
    ax.set_xticks(range(n), classes, rotation=90, fontsize=ticks)
    ax.set_yticks(range(n), classes, fontsize=ticks)
    ax.set_xlabel("predicted class", fontsize=10)
    ax.set_ylabel("true class", fontsize=10)
    right = int(np.trace(counts))
    ax.set_title(f"{right:,} of {int(counts.sum()):,} test images on the diagonal (right)"
                 + ("" if n <= MAX_COUNTED else "; too many classes to write each count"), fontsize=10)
    return fig
