"""What an attribution request asks for, as a frozen, validated value."""
from __future__ import annotations

from dataclasses import dataclass, replace

from cnndemo.errors import BadInputError

METHODS = ("gradcam", "guided_gradcam", "integrated_gradients", "occlusion")
BASELINES = ("zeros", "mean", "black")


@dataclass(frozen=True)
class ExplainSettings:
    """One attribution request: method, CAM layer, class, display and method knobs."""

    method: str = "gradcam"
    layer: str | None = None  # CAM layer for (guided) Grad-CAM; None -> the model's metadata
    target: int | str | None = None  # class index or class name; None -> top-1 prediction
    opacity: float = 0.5
    top_k: int = 5
    ig_steps: int = 32
    ig_baseline: str = "zeros"  # zeros in normalised space (dataset mean), "mean" image colour, or "black"
    noise_tunnel: bool = False
    nt_samples: int = 8
    nt_stdev: float = 0.15  # noise spread as a fraction of the input's value range
    occlusion_window: float = 0.2  # window side as a fraction of the input side (stride: half a window)
    colormap: str = "jet"

    def __post_init__(self) -> None:
        """Refuse settings a student could mistype, with a readable message."""
        _check(self.method in METHODS, f"unknown method {self.method!r}; choose one of: {', '.join(METHODS)}")
        _check(0.0 <= self.opacity <= 1.0, f"opacity must be between 0 and 1, got {self.opacity}")
        _check(1 <= self.top_k <= 1000, f"top_k must be between 1 and 1000, got {self.top_k}")
        _check(1 <= self.ig_steps <= 1000, f"ig_steps must be between 1 and 1000, got {self.ig_steps}")
        _check(self.ig_baseline in BASELINES, f"ig_baseline must be one of {', '.join(BASELINES)}")
        _check(1 <= self.nt_samples <= 200, f"nt_samples must be between 1 and 200, got {self.nt_samples}")
        _check(0.0 < self.nt_stdev <= 1.0, f"nt_stdev must be in (0, 1], got {self.nt_stdev}")
        _check(0.0 < self.occlusion_window <= 1.0,
               f"occlusion_window must be in (0, 1], got {self.occlusion_window}")

    def heatmap_key(self) -> ExplainSettings:
        """These settings with the display-only fields reset: equal keys give the same heatmap."""
        return replace(self, opacity=0.5, top_k=5, colormap="jet")


def _check(ok: bool, message: str) -> None:
    """Raise BadInputError with message unless ok."""
    if not ok:
        raise BadInputError(message)
