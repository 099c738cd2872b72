"""Trust-check speed on CPU: ResNet-18 (ImageNet form, random weights) at 224 x 224.

Measures side by side, in one run, medians over repeats of
  (a) the floor: one plain forward of one picture without gradients,
  (b) faithfulness of one Grad-CAM map (deletion + insertion, default steps, batched), from the cached forward,
      goal <= 1 s, and b/a (how many plain forwards it costs),
  (c) the same for Saliency (its map computed fresh each time: a backward to the input),
then once: ranking every quick method on one picture (what /rank_methods does), optionally the slower ones too,
and the sanity check of Grad-CAM (deep copy + cascade of <= 6 randomisation stages).

Run: python bench/faithfulness.py [--repeats 7] [--slower]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnndemo.explain import Explainer, ExplainSettings, hooks_left, methods  # noqa: E402
from cnndemo.explain.faithfulness import DEFAULT_STEPS  # noqa: E402
from cnndemo.models import get_model, model_info  # noqa: E402


def random_image(seed: int, size: int = 224) -> Image.Image:
    """A random RGB picture (a new one is a new image to the explainer)."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def timed(fn) -> float:
    """Seconds one call of fn takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@torch.no_grad()
def plain_forward(model: torch.nn.Module, x: torch.Tensor) -> None:
    """One forward of one picture in eval mode, no gradients."""
    model.eval()(x)


def speed(explainer: Explainer, repeats: int) -> None:
    """Time (a), (b), (c) interleaved and print medians and ratios."""
    times: dict[str, list[float]] = {k: [] for k in ("floor", "gradcam", "saliency")}
    for r in range(repeats + 1):  # the first round warms up allocators and lazy imports
        img, x = random_image(2000 + r), torch.randn(1, 3, 224, 224)
        explainer.record(img)  # the forward Explore already ran for this picture
        t = {"floor": timed(lambda: plain_forward(explainer.model, x)),
             "gradcam": timed(lambda: explainer.faithfulness(img, ExplainSettings(target=r))),
             "saliency": timed(lambda: explainer.faithfulness(img, ExplainSettings("saliency", target=r)))}
        for key, value in t.items():
            if r:
                times[key].append(value)
    med = {k: statistics.median(v) for k, v in times.items()}
    a = med["floor"]
    print(f"threads={torch.get_num_threads()} repeats={repeats} steps={DEFAULT_STEPS} (medians)")
    print(f"(a) floor: one plain forward:                 {a * 1e3:8.1f} ms")
    print(f"(b) faithfulness of Grad-CAM (cached forward):  {med['gradcam'] * 1e3:8.1f} ms  b/a = "
          f"{med['gradcam'] / a:.1f}  (goal <= 1 s)")
    print(f"(c) Saliency map + its faithfulness:            {med['saliency'] * 1e3:8.1f} ms  c/a = "
          f"{med['saliency'] / a:.1f}")


def once(explainer: Explainer, slower: bool) -> None:
    """Rank every quick method (and the slow ones if asked) and run one sanity check, on fresh pictures."""
    quick = [m.name for m in methods() if not m.slow]
    for label, names, seed in (("quick", quick, 1), ("all", [m.name for m in methods()], 2))[:2 if slower else 1]:
        img = random_image(seed)
        seconds = timed(lambda: explainer.rank(img, names, ExplainSettings(ig_steps=16, nt_samples=4)))
        print(f"rank {len(names)} {label} methods on a new picture: {seconds:.2f} s")
    result = explainer.sanity(random_image(3))
    print(f"sanity check of Grad-CAM ({len(result.stages) - 1} stages): {result.seconds:.2f} s; "
          f"hooks left {hooks_left(explainer.model)}, train mode {explainer.model.training}")


def main() -> None:
    """Build ResNet-18 once and run both parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--slower", action="store_true", help="also rank with the slower methods")
    args = parser.parse_args()
    torch.manual_seed(0)
    explainer = Explainer(get_model("resnet18"), model_info("resnet18"))
    speed(explainer, args.repeats)
    once(explainer, args.slower)


if __name__ == "__main__":
    main()
