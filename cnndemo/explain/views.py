"""What the explainer hands to a UI: frozen values of numpy images, numbers and text (no gradio)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from cnndemo.errors import BadInputError

from .methods import get_method
from .render import colour_map, overlay


@dataclass(frozen=True)
class ChannelStats:
    """Statistics of one shown channel of a feature map."""

    channel: int
    mean: float
    max: float
    zero_fraction: float


@dataclass(frozen=True, eq=False)
class FeatureMapView:
    """One layer's output: channel grid (most active first), shape, per-channel stats and shape arithmetic."""

    layer: str
    grid: np.ndarray  # uint8 RGB image of the shown channels
    shape: tuple[int, ...]  # full output shape, batch included
    channels: tuple[ChannelStats, ...]  # the shown channels, in grid order
    description: str  # layer type, in -> out shape, kernel / stride / padding and the filled-in formula
    total_channels: int = 0  # channels the layer has (the grid may show fewer)

    @property
    def shown_text(self) -> str:
        """'32 of 64 channels shown, most active first' (or 'all 16 channels ...')."""
        shown, total = len(self.channels), max(self.total_channels, len(self.channels))
        return (f"all {total} channels shown" if shown == total else f"{shown} of {total} channels shown") + \
            ", most active first"

    def table(self) -> list[list[float]]:
        """Rows [channel, mean, max, fraction of zeros] for a table widget."""
        return [[c.channel, round(c.mean, 4), round(c.max, 4), round(c.zero_fraction, 4)] for c in self.channels]


@dataclass(frozen=True, eq=False)
class AttributionView:
    """One attribution: heatmap in [0, 1] at model-input size, and the model-input picture it lies on; the overlay
    is drawn only when asked for (a UI that draws the heatmap over the uploaded picture never needs it)."""

    method: str
    layer: str  # the CAM layer (used by gradcam and guided_gradcam)
    target: int
    target_name: str
    probability: float
    heatmap: np.ndarray  # float32 H x W in [0, 1]
    display: np.ndarray  # uint8 H x W x 3: the model-input picture
    opacity: float
    colormap: str
    scale: float = float("nan")  # the raw attribution value a heatmap value of 1 stands for (nan: not known)
    shared_scale: bool = False  # scaled to the top-1 class's map (classes comparable), not to its own strongest

    @property
    def overlay(self) -> np.ndarray:
        """uint8 H x W x 3: the heatmap blended on the model-input picture at this view's opacity and colours."""
        return overlay(self.display, self.heatmap, self.opacity, self.colormap)

    def with_opacity(self, opacity: float, colormap: str | None = None) -> AttributionView:
        """The same heatmap at another opacity (and colour map): no model involved."""
        if not 0.0 <= opacity <= 1.0:
            raise BadInputError(f"opacity must be between 0 and 1, got {opacity}")
        return replace(self, opacity=opacity, colormap=colour_map(colormap).name if colormap else self.colormap)

    def top_meaning(self) -> str:
        """What the top of the colour bar (heatmap value 1) stands for, short enough for the bar's label: the map's
        strongest value, or for a method folded by magnitude its 99th percentile (its brightest 1 % of pixels are
        drawn in the top colour, or a few extreme pixels would leave the rest dark)."""
        whose = "the top-1 class's map" if self.shared_scale else "this map"
        which = "the 99th percentile" if get_method(self.method).reduce == "abs" else "the strongest value"
        return f"{which} of {whose}"

    def top_text(self) -> str:
        """The colour bar's top value and what it stands for, for a caption."""
        if not math.isfinite(self.scale):
            return f"colours relative: the top is {self.top_meaning()}"
        clipped = get_method(self.method).reduce == "abs"
        brightest = " (the brightest 1 % of pixels drawn in the top colour)" if clipped else ""
        shared = "same scale as the top-1 class, so classes compare: " if self.shared_scale else ""
        return f"{shared}colour bar from 0 to {self.scale:.3g}, the top being {self.top_meaning()}{brightest}"


@dataclass(frozen=True, eq=False)
class Explanation:
    """A fresh request answered from one forward pass: predictions, one layer's maps, one attribution."""

    predictions: list[tuple[str, float]]
    feature_maps: FeatureMapView
    attribution: AttributionView


@dataclass(frozen=True, eq=False)
class CompareRow:
    """One architecture in a side-by-side comparison."""

    name: str
    top3: list[tuple[str, float]]
    attribution: AttributionView  # Grad-CAM for the model's own top-1 class at its default CAM layer

    @property
    def overlay(self) -> np.ndarray:
        """The Grad-CAM overlay image."""
        return self.attribution.overlay
