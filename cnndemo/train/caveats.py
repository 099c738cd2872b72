"""The caveats beside a run's numbers: how sure an accuracy on few test pictures is (its Wilson interval), and the
warnings a run should show (a test set too small, colour averaged away on a grey model)."""
from __future__ import annotations

import torch
# imported with the module, not in the first evaluation: a second's stall there would also mislead the time
# left, which is measured from this run's evaluations (the Wilson interval is scipy's maths, not ours)
from scipy.stats import binomtest

from ..data import Splits

MIN_TEST_IMAGES = 20  # under this many test pictures a run warns that its accuracy is a rough figure
CONFIDENCE = 0.95


def wilson_interval(correct: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval for an accuracy of correct/n (stays inside [0, 1], sane at 0 % and 100 %)."""
    if n <= 0:
        return 0.0, 1.0
    ci = binomtest(int(correct), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def accuracy_interval(accuracy: float, n: int) -> list[float]:
    """[low, high] of the 95 % Wilson interval for an accuracy measured on n pictures."""
    return list(wilson_interval(round(accuracy * n), n))


def is_colour(images: torch.Tensor) -> bool:
    """True when uint8 (N, C, H, W) pictures carry colour (three channels that differ somewhere)."""
    return images.shape[1] == 3 and bool((images[:, 0] != images[:, 1]).any() or (images[:, 1] != images[:, 2]).any())


def run_warnings(model: str, data: Splits) -> list[str]:
    """Sentences a run should show before its numbers: a test set too small to trust, colour lost on a grey model."""
    from ..models import model_info

    warnings, n_test = [], len(data.test)
    if n_test < MIN_TEST_IMAGES:
        warnings.append(f"Only {n_test} test pictures: one picture moves the accuracy by {100 / max(n_test, 1):.0f} "
                        f"points, so read it with its 95 % interval, and add pictures (at least {MIN_TEST_IMAGES} "
                        "for testing) for a firmer figure.")
    info = model_info(model)
    if info.channels == 1 and is_colour(data.train.images):
        c, h, w = info.input_size
        warnings.append(f"The pictures are in colour but {model} reads grey {h}x{w} pictures, so their colour is "
                        "averaged away and they are shrunk; pick a model with 3 input channels for colour pictures.")
    return warnings
