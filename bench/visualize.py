"""Channel visualisation speed (issue 22): 8 channels of a middle layer, one batched optimisation, on 2 CPU threads.

For each model, side by side in one run:
  (a) the floor: steps x one batched forward + backward of the same work the optimisation does (the same private
      copy of the model with its batch norms as affine maps, the same layout, the forward stopped at the layer,
      the gradient of the channels' means with respect to the pixels), timed before and after (b) and averaged, so
      drift in the machine's load falls on both;
  (a') the same floor on the model as handed over (batch norm layers, NCHW), for reference;
  (b) run_visualization from an empty cache: parameterisation, jitter, optimiser, previews, the final responses;
  (c) the same request again (served from the cache).
Goals, printed PASS or MISS: (b) <= 20 s and (b) / (a) <= 1.3. Wall-clock and process CPU seconds are both printed,
with the load average: on a shared machine the wall clock also counts other people's work.
Each channel's response to its own picture against the others' pictures is printed too (the correctness test's
measure), and --out saves the pictures as one PNG per model to look at.

Run: python bench/visualize.py [--threads 2] [--steps 32] [--out /tmp/viz]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnndemo.explain import Explainer, ModelGuard  # noqa: E402
from cnndemo.explain.guard import layer_module  # noqa: E402
from cnndemo.insight.visualize import (DEFAULT_STEPS, VisualizationCache, VisualizeSettings,  # noqa: E402
                                       layout_for, lean_copy, run_visualization)
from cnndemo.zoo import Zoo  # noqa: E402

CASES = (("resnet18_cifar", "layer2"), ("efficientnet_lite0", "_blocks.10"))


class _Stop(Exception):
    """Ends the forward pass at the layer."""


def cpu_name() -> str:
    """The CPU's model name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of fn()."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def floor(model: torch.nn.Module, info, layer: str, channels: int, side: int, steps: int, layout) -> callable:
    """A function doing steps x (forward to layer + backward of the channels' means to the pixels)."""
    box = {}

    def catch(module, inputs, output):
        box["out"] = output
        raise _Stop

    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    pixels = torch.rand(channels, info.input_size[0], side, side)

    def run():
        with ModelGuard(model) as guard:
            guard.hook(layer_module(model, layer), catch)
            for _ in range(steps):
                x = pixels.clone().requires_grad_(True)
                try:
                    model(((x - mean) / std).contiguous(memory_format=layout))
                except _Stop:
                    pass
                out = box["out"]
                out[torch.arange(channels), torch.arange(channels)].mean(dim=(1, 2)).sum().backward()
    return run


def bench(name: str, layer: str, args) -> None:
    """Print one model's floor, run, cached run and ratios."""
    model, info = Zoo().load(name)
    explainer = Explainer(model, info)
    settings = VisualizeSettings(layer=layer, units=tuple(range(args.channels)), steps=args.steps, size=args.size)
    side = settings.side(info)
    lean = lean_copy(model)
    layout = layout_for(lean)
    lean_floor = floor(lean, info, layer, args.channels, side, args.steps, layout)
    given_floor = floor(model, info, layer, args.channels, side, args.steps, torch.contiguous_format)
    lean_floor()  # warm-up (oneDNN's kernels, allocator)
    cache = VisualizationCache()
    a1 = timed(lean_floor)
    result = {}
    b = timed(lambda: result.setdefault("r", run_visualization(explainer, settings, cache=cache)))
    a2 = timed(lean_floor)
    c = timed(lambda: run_visualization(explainer, settings, cache=cache))
    a_given = timed(given_floor)
    a = ((a1[0] + a2[0]) / 2, (a1[1] + a2[1]) / 2)
    report(name, layer, side, args, a, a_given, b, c, result["r"])


def report(name, layer, side, args, a, a_given, b, c, result) -> None:
    """The lines for one model."""
    print(f"\n{name}, layer {layer}: {args.channels} channels at {side}x{side} px, {args.steps} steps "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"  (a)  floor, steps x batched forward+backward: {a[0]:6.2f} s wall, {a[1]:6.2f} s CPU")
    print(f"  (a') the same on the model as handed over:    {a_given[0]:6.2f} s wall, {a_given[1]:6.2f} s CPU")
    print(f"  (b)  visualisation:                           {b[0]:6.2f} s wall, {b[1]:6.2f} s CPU")
    print(f"  (c)  the same request again (cached):         {c[0]:6.3f} s wall")
    print(f"  b/a = {b[0] / a[0]:.2f} wall, {b[1] / a[1]:.2f} CPU (goal <= 1.3: {verdict(b[0] / a[0] <= 1.3)}); "
          f"b/a' = {b[0] / a_given[0]:.2f}; b = {b[0]:.1f} s (goal <= 20 s: {verdict(b[0] <= 20)})")
    r = result.responses
    others = np.where(np.eye(len(r), dtype=bool), -np.inf, r).max(axis=1)
    wins = float((np.diag(r) > others).mean())
    print(f"  own picture beats every other picture for {wins:.0%} of channels; own / best other response: "
          + ", ".join(f"{o:.2f}/{x:.2f}" for o, x in zip(np.diag(r), others)))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        tile = np.concatenate(result.pictures, axis=1)
        Image.fromarray(tile).save(Path(args.out) / f"{name}_{layer}.png")


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def main() -> None:
    """Parse the options and bench every case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--size", type=int, default=None, help="picture side (default: the model's, at most 128)")
    parser.add_argument("--models", nargs="*", default=[f"{n}:{layer}" for n, layer in CASES],
                        help="name:layer pairs")
    parser.add_argument("--out", default="", help="folder for the pictures")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_name()}; {os.cpu_count()} logical CPUs here, torch on {torch.get_num_threads()} threads; "
          f"torch {torch.__version__}")
    for case in args.models:
        name, layer = case.split(":", 1)
        bench(name, layer, args)


if __name__ == "__main__":
    main()
