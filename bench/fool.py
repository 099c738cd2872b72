"""Adversarial attack speed (issue 22): FGSM and 10-step PGD against one forward + backward, on 2 CPU threads.

For each model, on the cat photo at the model's input size, over repeats, measured side by side:
  (a) the floor: one forward + backward of the normalised picture (cross-entropy of the top class, gradient with
      respect to the pixels, weights frozen),
  (b) FGSM through captum.robust, via PixelModel (the upload path's resize + crop and the normalisation in the graph),
  (c) PGD with 10 steps, the same way,
  (d) a whole fool() request (FGSM, with both read-back predictions and both Grad-CAMs), for reference.
Each round runs (a), (b), (c) in a rotated order, so no part always runs first. Goals, printed PASS or MISS:
b / a <= 1.5 and c / a <= 12, judged on the fastest round of each part (the least disturbed by other work on a
shared machine); medians and process CPU seconds are printed beside them, with the load average.

Run: python bench/fool.py [--threads 2] [--repeats 7]
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
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnndemo.examples import example_image  # noqa: E402
from cnndemo.explain import Explainer, ModelGuard  # noqa: E402
from cnndemo.images import model_input_image, seen_tensor  # noqa: E402
from cnndemo.insight.fool import FoolSettings, PixelModel, fool, perturb, pixels_of  # noqa: E402
from cnndemo.train.device import device_name  # noqa: E402
from cnndemo.zoo import Zoo  # noqa: E402


MODELS = ("resnet18_cifar", "efficientnet_lite0")


def timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of fn()."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def parts(model: torch.nn.Module, info) -> dict:
    """The timed parts, each a function of no arguments, on the cat photo at the model's input size."""
    seen = model_input_image(example_image("chelsea (cat)"), info)
    x, pixels = seen_tensor(seen, info).contiguous(), pixels_of(np.asarray(seen))
    with torch.no_grad():
        label = int(model(x).argmax())
    pixel_model = PixelModel(model, info)

    def floor():
        x_grad = x.clone().requires_grad_(True)
        F.cross_entropy(model(x_grad), torch.tensor([label])).backward()

    return {"a": floor,
            "b": lambda: perturb(pixel_model, pixels, label, FoolSettings("fgsm", 2 / 255)),
            "c": lambda: perturb(pixel_model, pixels, label, FoolSettings("pgd", 2 / 255, steps=10))}


def bench(name: str, repeats: int) -> None:
    """Print one model's medians and ratios."""
    model, info = Zoo().load(name)
    times: dict[str, list[tuple[float, float]]] = {"a": [], "b": [], "c": []}
    with ModelGuard(model):
        fns = parts(model, info)
        for fn in fns.values():
            fn()  # warm-up
        for r in range(repeats):
            order = list(fns)[r % 3:] + list(fns)[:r % 3]
            for key in order:
                times[key].append(timed(fns[key]))
    explainer = Explainer(model, info)
    d = timed(lambda: fool(explainer, example_image("chelsea (cat)"), FoolSettings("fgsm", 2 / 255)))
    report(name, info, times, d)


def report(name: str, info, times: dict, d: tuple[float, float]) -> None:
    """The lines for one model: fastest and median wall, median CPU, and the ratios."""
    _, h, w = info.input_size
    fast = {k: min(t[0] for t in v) for k, v in times.items()}
    mid = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    print(f"\n{name} at {h}x{w} px (load average {os.getloadavg()[0]:.1f}), {len(times['a'])} rounds:")
    for key, text in (("a", "floor: one forward + backward"), ("b", "FGSM"), ("c", "PGD, 10 steps")):
        print(f"  ({key}) {text:30s} fastest {fast[key] * 1e3:8.1f} ms, median {mid[key] * 1e3:8.1f} ms wall, "
              f"{cpu[key] * 1e3:8.1f} ms CPU")
    print(f"  (d) a whole fool() request (FGSM)   {d[0] * 1e3:8.1f} ms wall, {d[1] * 1e3:8.1f} ms CPU")
    for key, text, goal in (("b", "FGSM", 1.5), ("c", "PGD-10", 12)):
        ratio = fast[key] / fast["a"]
        print(f"  {text} / floor = {ratio:.2f} fastest (goal <= {goal}: {'PASS' if ratio <= goal else 'MISS'}), "
              f"{mid[key] / mid['a']:.2f} median, {cpu[key] / cpu['a']:.2f} CPU")


def main() -> None:
    """Parse the options and bench every model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{device_name(torch.device('cpu'))}; torch {torch.__version__}")
    for name in args.models:
        bench(name, args.repeats)


if __name__ == "__main__":
    main()
