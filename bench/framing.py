"""The history lesson on a photo: how many of the six CIFAR-10 models name the object, on the whole photo and on
the automatic crop (cnndemo.explain.framing), side by side in one run, on photos the project ships (scikit-image's
chelsea and horse) and generated ones (the horse placed small on a large canvas). Also times the crop search.

Run: python bench/framing.py [--level 0.4] [--margin 0.05]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnndemo.examples import example_image, placed  # noqa: E402
from cnndemo.explain import ModelCache  # noqa: E402
from cnndemo.explain import framing  # noqa: E402
from cnndemo.zoo import Zoo  # noqa: E402

SIX = ["lenet5", "alexnet_cifar", "vgg16_bn_cifar", "googlenet_cifar", "resnet18_cifar", "densenet121_cifar"]


def photos() -> dict:
    """name -> (picture, the CIFAR-10 class it shows)."""
    horse = "horse (silhouette)"
    return {"chelsea (cat, close-up)": (example_image("chelsea (cat)"), "cat"),
            "horse (fills the frame)": (example_image(horse), "horse"),
            "horse small, left (1200x800)": (placed(horse, (1200, 800), (0.25, 0.6), 0.33), "horse"),
            "horse small, centre (1000x700)": (placed(horse, (1000, 700), (0.5, 0.5), 0.4), "horse"),
            "horse far, top right (1600x1200)": (placed(horse, (1600, 1200), (0.7, 0.3), 0.25), "horse"),
            "cat small, grey (1200x900)": (placed("chelsea (cat)", (1200, 900), (0.6, 0.6), 0.38, (128,) * 3),
                                           "cat")}


def right(cache: ModelCache, picture, box: framing.Box, wanted: str) -> int:
    """How many of the six name wanted as their top-1 on picture cut to box."""
    rows = framing.framed_compare(cache, picture, SIX, box)
    return sum(r.row.top3[0][0] == wanted for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", type=float, default=framing.HEAT_LEVEL)
    parser.add_argument("--margin", type=float, default=framing.MARGIN)
    args = parser.parse_args()
    framing.HEAT_LEVEL = args.level
    torch.set_num_threads(1)
    cache = ModelCache(Zoo().load, max_models=8)
    framer = cache.get(framing.FRAMER)
    totals = [0, 0]
    print(f"heat level {args.level}, margin {args.margin}; of 6 CIFAR-10 models, how many are right")
    for name, (picture, wanted) in photos().items():
        start = time.perf_counter()
        box = framing.object_box(framer, picture, margin=args.margin)
        took = time.perf_counter() - start
        counts = right(cache, picture, framing.Box.whole(*picture.size), wanted), right(cache, picture, box, wanted)
        totals = [t + c for t, c in zip(totals, counts)]
        print(f"{name:34s} whole {counts[0]}/6  crop {counts[1]}/6  box {box.as_tuple()}  search {took:.2f} s")
    n = 6 * len(photos())
    print(f"total: whole {totals[0]}/{n}, crop {totals[1]}/{n} (crop / whole = {totals[1] / max(totals[0], 1):.2f})")


if __name__ == "__main__":
    main()
