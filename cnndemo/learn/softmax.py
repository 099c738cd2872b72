"""Softmax explained on this image: the top logits with their class names, exponentials, their sum, probabilities."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

SHIFT_ABOVE = 30.0  # e^30 is about 1e13: larger logits are shown after subtracting the largest one


@dataclass(frozen=True)
class SoftmaxRow:
    """One class: its logit z, e^(z - shift) and its probability."""

    rank: int
    index: int
    name: str
    logit: float
    exp: float
    probability: float


@dataclass(frozen=True)
class SoftmaxView:
    """p_i = e^(z_i - shift) / sum_j e^(z_j - shift), with the sum over all classes."""

    rows: tuple[SoftmaxRow, ...]
    total: float  # the sum of the exponentials over every class
    others: float  # what the classes not shown add to it
    shift: float  # subtracted from every logit first (0 when the logits are small): it cancels out
    n_classes: int


def softmax_view(logits: torch.Tensor, classes: Sequence[str], top: int = 5) -> SoftmaxView:
    """The softmax of real logits, worked out for the top classes."""
    z = logits.detach().double().flatten().cpu()
    shift = float(z.max()) if float(z.max()) > SHIFT_ABOVE else 0.0
    e = torch.exp(z - shift)
    total = float(e.sum())
    order = torch.argsort(z, descending=True, stable=True)[:max(1, top)].tolist()
    rows = tuple(SoftmaxRow(r + 1, i, classes[i] if i < len(classes) else f"class {i}", float(z[i]), float(e[i]),
                            float(e[i]) / total) for r, i in enumerate(order))
    return SoftmaxView(rows, total, total - sum(r.exp for r in rows), shift, z.numel())


def softmax_text(view: SoftmaxView) -> str:
    """The computation as Markdown lines a student can follow."""
    z = "z" if view.shift == 0 else f"(z - {view.shift:.3f})"
    lines = [f"p = e^{z} / sum of e^{z} over all {view.n_classes:,} classes" +
             ("" if view.shift == 0 else " (the largest logit is subtracted first; that cancels out)")]
    lines += [f"{r.rank}. **{r.name}**: z = {r.logit:.3f}, e^{z} = {r.exp:.4g}, p = {r.exp:.4g} / {view.total:.4g}"
              f" = **{r.probability:.4f}**" for r in view.rows]
    lines.append(f"The other {view.n_classes - len(view.rows):,} classes add {view.others:.4g} to the sum "
                 f"{view.total:.4g}.")
    return "  \n".join(lines)
