"""Channel visualisation speed (issue 22): 8 channels of a middle layer, one batched optimisation, on 2 CPU threads.

For each model, side by side in one run, over rounds that alternate which part runs first:
  (a) the floor: steps x one batched forward + backward of the same work the optimisation does (the same private
      copy of the model with its batch norms as affine maps, the same layout, the forward stopped at the layer,
      the gradient of the channels' means with respect to the pixels);
  (b) run_visualization from an empty cache: copy of the model, parameterisation, jitter, optimiser, previews, the
      final responses;
  (a') once, the floor on the model as handed over (batch norm layers, NCHW), for reference;
  (c) once, the same request again (served from the cache).
Goals, printed PASS or MISS, judged on the fastest round of each part (the one least disturbed by other work on a
shared machine): (b) <= 20 s and (b) / (a) <= 1.3. Medians and process CPU seconds are printed beside them, with
the load average.
Each channel's response to its own picture against the others' pictures is printed too (the correctness test's
measure), and --out saves the pictures as one PNG per model to look at.

Run: python bench/visualize.py [--threads 2] [--rounds 3] [--steps 32] [--out /tmp/viz]
"""
from __future__ import annotations

import argparse
import os
import statistics
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
from cnndemo.train.device import device_name  # noqa: E402
from cnndemo.zoo import Zoo  # noqa: E402

CASES = (("resnet18_cifar", "layer2"), ("efficientnet_lite0", "_blocks.10"))


class _Stop(Exception):
    """Ends the forward pass at the layer."""


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
    parts = {"a": floor(lean, info, layer, args.channels, side, args.steps, layout_for(lean)),
             "b": lambda: run_visualization(explainer, settings, cache=VisualizationCache())}
    parts["a"]()  # warm-up (oneDNN's kernels, the allocator)
    times: dict[str, list[tuple[float, float]]] = {"a": [], "b": []}
    for r in range(args.rounds):
        for key in (("a", "b") if r % 2 == 0 else ("b", "a")):
            times[key].append(timed(parts[key]))
    cache = VisualizationCache()
    result = run_visualization(explainer, settings, cache=cache)
    cached = timed(lambda: run_visualization(explainer, settings, cache=cache))
    given = timed(floor(model, info, layer, args.channels, side, args.steps, torch.contiguous_format))
    report(name, layer, side, args, times, given, cached, result)


def report(name, layer, side, args, times, given, cached, result) -> None:
    """The lines for one model."""
    fast = {k: min(t[0] for t in v) for k, v in times.items()}
    mid = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    print(f"\n{name}, layer {layer}: {args.channels} channels at {side}x{side} px, {args.steps} steps, "
          f"{args.rounds} rounds (load average {os.getloadavg()[0]:.1f})")
    for key, text in (("a", "floor, steps x batched forward+backward"), ("b", "visualisation")):
        print(f"  ({key}) {text:40s} fastest {fast[key]:6.2f} s, median {mid[key]:6.2f} s wall, "
              f"{cpu[key]:6.2f} s CPU")
    print(f"  (a') the floor on the model as handed over   {given[0]:6.2f} s wall, {given[1]:6.2f} s CPU (once)")
    print(f"  (c) the same request again (cached)          {cached[0]:6.3f} s wall")
    ratio = fast["b"] / fast["a"]
    print(f"  b/a = {ratio:.2f} fastest (goal <= 1.3: {verdict(ratio <= 1.3)}), {mid['b'] / mid['a']:.2f} median, "
          f"{cpu['b'] / cpu['a']:.2f} CPU; b = {fast['b']:.1f} s fastest (goal <= 20 s: {verdict(fast['b'] <= 20)})")
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--size", type=int, default=None, help="picture side (default: the model's, at most 128)")
    parser.add_argument("--models", nargs="*", default=[f"{n}:{layer}" for n, layer in CASES],
                        help="name:layer pairs")
    parser.add_argument("--out", default="", help="folder for the pictures")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{device_name(torch.device('cpu'))}; torch {torch.__version__}")
    for case in args.models:
        name, layer = case.split(":", 1)
        bench(name, layer, args)


if __name__ == "__main__":
    main()
