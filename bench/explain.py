"""Explain speed and reliability on CPU: ResNet-18 (ImageNet form, random weights) at 224x224.

Measures side by side, in one run, medians over repeats of
  (a) the floor: one plain forward + one backward to the Grad-CAM layer (layer4),
  (b) a fresh request: prediction + feature maps of one layer + Grad-CAM, for a new image,
  (c) changing only the feature-map layer / CAM class / opacity for the same image,
  (d) bare Grad-CAM by captum (LayerGradCam) and by torchcam (GradCAM), each with its own forward,
and prints b/a (goal <= 1.3), c/a (goal <= 0.1) and b/d; then 300 explain calls in a row: hooks left, model mode,
resident memory growth (goal <= 5 %).

Run: OMP_NUM_THREADS=1 python bench/explain.py [--repeats 15] [--loop 300]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnndemo.explain import Explainer, ExplainSettings, hooks_left  # noqa: E402
from cnndemo.models import get_model, model_info, resolve_layer  # noqa: E402


def random_image(seed: int, size: int = 224) -> Image.Image:
    """A random RGB picture of the model's input size (a new one is a new image to the explainer)."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def floor_once(model: torch.nn.Module, x: torch.Tensor, layer: torch.nn.Module, target: int) -> None:
    """One plain forward keeping the layer's output, then one backward from a class score to it."""
    saved = {}
    handle = layer.register_forward_hook(lambda m, i, o: saved.__setitem__("A", o))
    try:
        logits = model(x)
    finally:
        handle.remove()
    torch.autograd.grad(logits[0, target], saved["A"])


def bare_captum(model: torch.nn.Module, x: torch.Tensor, layer: torch.nn.Module, target: int) -> None:
    """captum's LayerGradCam on its own: one forward and one backward, no caching."""
    from captum.attr import LayerGradCam

    LayerGradCam(model, layer).attribute(x, target=target)


def bare_torchcam(model: torch.nn.Module, x: torch.Tensor, layer: str, target: int) -> None:
    """torchcam's GradCAM on its own: its hooks, one forward, one backward, hooks removed."""
    from torchcam.methods import GradCAM

    with GradCAM(model, target_layer=layer) as extractor:
        extractor(target, model(x))


def timed(fn) -> float:
    """Seconds one call of fn takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def speed(explainer: Explainer, repeats: int) -> None:
    """Time (a), (b), (c) interleaved and print medians and ratios."""
    model, info = explainer.model, explainer.info
    model.eval()  # the floor and the bare libraries run in the mode the explainer explains in
    layer = resolve_layer(model, info.cam_layer)
    base = ExplainSettings()
    times: dict[str, list[float]] = {k: [] for k in ("floor", "fresh", "layer", "class", "opacity", "captum",
                                                     "torchcam")}
    for r in range(repeats + 2):  # the first two rounds warm up allocators and caches
        img = random_image(1000 + r)
        x = torch.randn(1, 3, 224, 224)
        t = {"floor": timed(lambda: floor_once(model, x, layer, r % 1000)),
             "fresh": timed(lambda: explainer.explain(img, layer="layer1", settings=base)),
             "layer": timed(lambda: explainer.feature_maps(img, "layer3")),
             "class": timed(lambda: explainer.attribute(img, replace(base, target=(r * 37 + 5) % 1000))),
             "opacity": timed(lambda: explainer.attribute(img, replace(base, opacity=0.2 + 0.05 * (r % 10)))),
             "captum": timed(lambda: bare_captum(model, x, layer, r % 1000)),
             "torchcam": timed(lambda: bare_torchcam(model, x, info.cam_layer, r % 1000))}
        for key, value in t.items():
            if r >= 2:
                times[key].append(value)
    med = {k: statistics.median(v) for k, v in times.items()}
    a = med["floor"]
    print(f"threads={torch.get_num_threads()} repeats={repeats} (medians, ms)")
    print(f"(a) floor: forward + backward to {info.cam_layer}: {a * 1e3:8.1f}")
    print(f"(b) fresh request (predict + feature maps + Grad-CAM): {med['fresh'] * 1e3:8.1f}  b/a = "
          f"{med['fresh'] / a:.3f}  (goal <= 1.3)")
    for key in ("layer", "class", "opacity"):
        print(f"(c) change {key:8s}: {med[key] * 1e3:8.2f}  c/a = {med[key] / a:.4f}  (goal <= 0.1)")
    for key in ("captum", "torchcam"):
        print(f"(d) bare {key} Grad-CAM: {med[key] * 1e3:8.1f}  b/d = {med['fresh'] / med[key]:.3f}")


def reliability(explainer: Explainer, calls: int) -> None:
    """Run explain calls in a row (new images, all change kinds) and report hooks, mode and RSS growth."""
    model = explainer.model
    model.train()  # the explainer must hand it back in the mode it found it
    methods = ("gradcam", "gradcam", "gradcam", "guided_gradcam")

    def one(i: int) -> None:
        img = random_image(i % 12)  # more images than the record LRU holds: records are built and dropped
        settings = ExplainSettings(method=methods[i % len(methods)], target=i % 1000, opacity=(i % 10) / 10)
        explainer.explain(img, layer=("layer1", "layer2", "layer3")[i % 3], settings=settings)

    for i in range(30):  # warm-up: allocator pools, lazily imported code
        one(i)
    start, worst_hooks = rss_mb(), 0
    for i in range(calls):
        one(i)
        worst_hooks = max(worst_hooks, hooks_left(model))
    end = rss_mb()
    growth = (end - start) / start * 100
    print(f"{calls} calls: hooks left max {worst_hooks}, still in train mode {model.training}, "
          f"params requiring grad {all(p.requires_grad for p in model.parameters())}, "
          f"RSS {start:.0f} -> {end:.0f} MiB ({growth:+.2f} %, goal <= 5 %)")


def main() -> None:
    """Build ResNet-18 once and run both parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--loop", type=int, default=300)
    args = parser.parse_args()
    torch.manual_seed(0)
    explainer = Explainer(get_model("resnet18"), model_info("resnet18"))
    speed(explainer, args.repeats)
    reliability(explainer, args.loop)


if __name__ == "__main__":
    main()
