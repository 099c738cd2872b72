"""Benchmark: the feature space. 2,000 pictures embedded (the penultimate features, one frozen forward each) and
mapped to 2-D by t-SNE, goal <= 30 s on 2 CPU cores; with the bare forwards over the same pictures in the same
run, and the share of neighbours that share a picture's class in feature space and in pixel space.

Usage: python bench/featurespace.py [--model resnet18_cifar] [--data cifar10] [--pictures 2000] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from cnndemo.data import BatchSpec, to_input  # noqa: E402
from cnndemo.errors import BadInputError  # noqa: E402
from cnndemo.insight.featurespace import SpaceSettings, feature_space, neighbour_agreement  # noqa: E402
from cnndemo.insight.kept import Kept  # noqa: E402
from cnndemo.insight.pictures import load_pictures  # noqa: E402
from cnndemo.zoo import Zoo  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from examples import machine_line  # noqa: E402


def bare(model, info, images: torch.Tensor, batch: int = 100) -> float:
    """Seconds for plain whole-model forwards over the pictures."""
    spec = BatchSpec(info.input_size, info.mean, info.std)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            model(to_input(images[i:i + batch], spec))
    return time.perf_counter() - start


def main() -> None:
    """Time the bare forwards, then the feature space end to end."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet18_cifar")
    p.add_argument("--data", default="cifar10", help="a built-in data set (shapes when cifar10 is not here)")
    p.add_argument("--pictures", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-iter", type=int, default=SpaceSettings.max_iter)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model, info = Zoo().load(args.model)
    settings = SpaceSettings(max_pictures=args.pictures, max_iter=args.max_iter)
    try:
        pictures = load_pictures(args.data, args.pictures, settings.min_pictures)
    except BadInputError as err:
        print(f"{args.data} is not here ({err}); using shapes")
        args.data, pictures = "shapes", load_pictures("shapes", args.pictures, settings.min_pictures)
    forwards = bare(model, info, pictures.data.images)
    start, cpu = time.perf_counter(), time.process_time()
    space = feature_space(model, info, args.data, settings, kept=Kept(1))
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    by_features, by_pixels = neighbour_agreement(space, settings.k)
    print(machine_line())
    print(f"{args.model}, {pictures.label}")
    print(f"embedded in {space.embed_seconds:.1f} s ({space.embed_seconds / forwards:.2f}x the bare forwards, "
          f"{forwards:.1f} s), mapped by t-SNE ({settings.max_iter} iterations) in {space.map_seconds:.1f} s; "
          f"end to end {total:.1f} s  [{'PASS' if total <= 30 else 'MISS'}: goal <= 30 s]; CPU time of this "
          f"process {cpu:.1f} s over {args.threads} threads")
    print(f"of each picture's {settings.k} nearest: {by_features:.1%} share its class in feature space, "
          f"{by_pixels:.1%} in pixel space")


if __name__ == "__main__":
    main()
