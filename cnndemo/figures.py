"""Matplotlib figures the Train tab shows: training curves and the confusion matrix (no gradio here)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


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
        for p in epochs:
            acc.annotate(f"{p['curve']} {100 * p['value']:.0f} %", (p["epoch"], p["value"]), fontsize=8,
                         xytext=(6, 0), textcoords="offset points", va="center")
    acc.set_ylim(-0.02, 1.02)
    return fig


def confusion_figure(matrix: list[list[int]], classes) -> Figure:
    """A labelled confusion-matrix heat map (rows: true class, columns: predicted)."""
    fig = Figure(figsize=(5, 4.2), tight_layout=True)
    ax = fig.add_subplot()
    ax.imshow(np.asarray(matrix), cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return fig
