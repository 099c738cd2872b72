"""The model-parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps"). UI-free.

On a deep copy of the model, the layers that hold parameters are re-initialised from the output back, in at most
max_stages cascading stages; after each stage the heatmap is computed again and compared with the original by
Spearman's rank correlation. A map that hardly changes once the weights are random cannot be explaining what the
model learnt. The model handed in is only read (deepcopy under the caller's lock): its weights, mode and hooks stay.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn
from scipy.stats import spearmanr

from cnndemo.errors import BadInputError

from .methods import get_method
from .methods.base import seeded

MAX_STAGES = 6
FLAG_ABOVE = 0.5  # |Spearman| of the fully randomised map above this: the map ignores the weights
WHY_CONVINCING = ("Why a random network's Grad-CAM can still look convincing: its maps are still convolutions of "
                  "the picture, so they follow its edges and bright blobs, and an outline of the object looks like "
                  "an explanation while it says nothing about what the model learnt.")


@dataclass(frozen=True, eq=False)
class SanityResult:
    """The strip: the original heatmap, then one per cascade stage, each with its rank correlation to the original."""

    method: str
    target: int
    stages: tuple[str, ...]  # "original", then "to <layer>": every layer from the output down to it is random
    heatmaps: tuple[np.ndarray, ...]
    correlations: tuple[float, ...]  # Spearman with the original (1.0 for the original itself)
    seconds: float

    @property
    def final(self) -> float:
        """Rank correlation of the map with every layer randomised."""
        return self.correlations[-1]

    @property
    def blank(self) -> bool:
        """Whether the original map is one flat value (nothing to compare)."""
        return bool(np.isnan(self.final))

    @property
    def flagged(self) -> bool:
        """Whether the map survives randomising every layer (|correlation| above FLAG_ABOVE)."""
        return not self.blank and abs(self.final) > FLAG_ABOVE

    def verdict(self, label: str) -> str:
        """One sentence on the method, from the final correlation."""
        if self.blank:
            return (f"{label}'s map of this class is blank for this picture, so there is nothing to check: "
                    "pick another class or method.")
        if self.flagged:
            return (f"**Warning**: {label}'s map hardly changes when every layer is random (rank correlation "
                    f"{self.final:.2f} with the original), so it shows the picture more than the model.")
        return (f"{label} passes: with every layer random its map changes (rank correlation {self.final:.2f} with "
                f"the original, at most {FLAG_ABOVE} allowed), so it depends on what the model learnt.")


def parameterised(model: nn.Module) -> list[str]:
    """Names of the modules holding parameters of their own, in registration (roughly forward) order."""
    return [name for name, m in model.named_modules() if name and any(True for _ in m.parameters(recurse=False))]


def cascade(model: nn.Module, max_stages: int = MAX_STAGES) -> list[list[str]]:
    """The parameterised modules from the output back, cut into at most max_stages groups of near-equal size."""
    if isinstance(max_stages, bool) or not isinstance(max_stages, int) or not 1 <= max_stages <= 32:
        raise BadInputError(f"max_stages must be a whole number between 1 and 32, got {max_stages!r}")
    names = parameterised(model)[::-1]
    if not names:
        raise BadInputError("this model has no layers with weights to randomise")
    return [list(group) for group in np.array_split(np.array(names, dtype=object), min(max_stages, len(names)))]


def randomise(module: nn.Module) -> None:
    """Re-initialise one module's own parameters (its reset_parameters, else a normal draw of the same spread)."""
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            p.normal_(0.0, float(p.std()) if p.numel() > 1 else 0.02)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of heatmap b with the original a; nan when a is blank (there is nothing to keep),
    0 when only b is (the map was wiped out)."""
    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0:
        return float("nan")
    return 0.0 if np.ptp(b) == 0 else float(spearmanr(a, b).statistic)


def sanity_check(model: nn.Module, x: torch.Tensor, target: int, method: str, cam_layer: str,
                 mean: tuple[float, ...] = (), std: tuple[float, ...] = (), options: Mapping[str, Any] | None = None,
                 max_stages: int = MAX_STAGES, seed: int = 0, copied: bool = False) -> SanityResult:
    """Heatmaps of method for class target on x while a copy of model is randomised from the output back
    (copied: model is already a private copy, randomise it in place)."""
    start = time.perf_counter()
    kind = get_method(method)
    twin = model if copied else copy.deepcopy(model)  # the cached model is never touched
    stages = cascade(twin, max_stages)
    heat = lambda: kind(twin, cam_layer, mean, std).heat(x, target, options)[0]  # noqa: E731
    maps, labels = [heat()], ["original"]
    with seeded(x.device, seed):  # the same random weights every time
        for group in stages:
            for name in group:
                randomise(twin.get_submodule(name))
            maps.append(heat())
            labels.append(_stage_label(group))
    correlations = tuple(spearman(maps[0], m) for m in maps)
    return SanityResult(method, target, tuple(labels), tuple(maps), correlations, time.perf_counter() - start)


def _stage_label(group: list[str]) -> str:
    """'to <the last layer of this stage>': every layer from the output down to it is random."""
    return f"to {group[-1]}"
