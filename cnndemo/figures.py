"""Matplotlib figures the Train tab shows: training curves and the confusion matrix (no gradio here)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

MAX_COUNTED = 30  # classes up to which every cell's count is written in (beyond, the digits would not fit)


def curves_figure(steps: list[dict], epochs: list[dict]) -> Figure:
    """Loss against step and accuracy against epoch, train and test, as one matplotlib figure."""
    fig = Figure(figsize=(9, 3.2), tight_layout=True)
    loss, acc = fig.subplots(1, 2)
    for ax, points, x, title in ((loss, steps, "step", "loss"), (acc, epochs, "epoch", "accuracy")):
        for curve in dict.fromkeys(p["curve"] for p in points):
            xs, ys = zip(*[(p[x], p["value"]) for p in points if p["curve"] == curve])
            ax.plot(xs, ys, marker="o" if x == "epoch" or "test" in curve else None, ms=3, label=curve)
        ax.set(xlabel=x, title=title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no step 2.5 or epoch 1.5
        if points:
            ax.legend(fontsize=8)
    if epochs and len({p["epoch"] for p in epochs}) == 1:  # one epoch: single points, so frame and label them
        acc.set_xlim(epochs[0]["epoch"] - 1, epochs[0]["epoch"] + 1)
        ranked = sorted(epochs, key=lambda p: -p["value"])
        for k, p in enumerate(ranked):  # one label a line below the other, highest first: equal values cannot clash
            acc.annotate(f"{p['curve']} {100 * p['value']:.0f} %", (p["epoch"], p["value"]), fontsize=8,
                         xytext=(8, 12 * ((len(ranked) - 1) / 2 - k)), textcoords="offset points", va="center")
    acc.set_ylim(-0.02, 1.02)
    return fig


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
