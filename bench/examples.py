"""Benchmark: dataset examples. One pass over 2,000 pictures recording every channel of a layer, against the bare
forward passes over the same pictures in the same run (goal <= 1.2x), then a channel's view (goal <= 0.2 s).

The pass stops each forward once the layer has run; the bare forward runs the whole model, as Explore does. The
bare forward up to the layer is printed too, so the cost of the recording itself can be read off.
Usage: python bench/examples.py [--model resnet18_cifar] [--layer layer2] [--data cifar10] [--pictures 2000]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from cnndemo.data import BatchSpec, to_input  # noqa: E402
from cnndemo.errors import BadInputError  # noqa: E402
from cnndemo.explain.guard import ModelGuard, layer_module  # noqa: E402
from cnndemo.insight import examples as ex  # noqa: E402
from cnndemo.insight.kept import Kept  # noqa: E402
from cnndemo.insight.pictures import load_pictures  # noqa: E402
from cnndemo.zoo import Zoo  # noqa: E402


def cpu_name() -> str:
    """The CPU's model name (lscpu's), or the platform's word for it."""
    try:
        line = next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name"))
        return line.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def bare(model, info, images: torch.Tensor, batch: int, until: str | None = None) -> float:
    """Seconds for plain forwards over the pictures (the whole model, or up to layer until)."""
    spec = BatchSpec(info.input_size, info.mean, info.std)
    start = time.perf_counter()
    with ModelGuard(model) as guard, torch.inference_mode():
        if until:
            guard.hook(layer_module(model, until), stop)
        for i in range(0, len(images), batch):
            try:
                model(to_input(images[i:i + batch], spec))
            except StopIteration:
                pass
    return time.perf_counter() - start


def stop(*_) -> None:
    """A hook that ends the forward at the layer."""
    raise StopIteration


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet18_cifar")
    p.add_argument("--layer", default="layer2")
    p.add_argument("--data", default="cifar10", help="a built-in data set (shapes when cifar10 is not here)")
    p.add_argument("--pictures", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3, help="each timing is the median of this many, interleaved")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model, info = Zoo().load(args.model)
    settings = ex.ExampleSettings(max_pictures=args.pictures)
    try:
        pictures = load_pictures(args.data, args.pictures, settings.min_pictures)
    except BadInputError as err:
        print(f"{args.data} is not here ({err}); using shapes")
        args.data, pictures = "shapes", load_pictures("shapes", args.pictures, settings.min_pictures)
    maps = ex.layer_maps(info, args.layer)
    times = {"bare": [], "bare to layer": [], "pass": []}
    for _ in range(args.repeats):  # interleaved, so a neighbour's load hits all three alike
        times["bare"].append(bare(model, info, pictures.data.images, settings.batch_size))
        times["bare to layer"].append(bare(model, info, pictures.data.images, settings.batch_size, args.layer))
        kept = ex.record(model, info, maps, pictures, settings)
        times["pass"].append(kept.seconds)
    t = {k: statistics.median(v) for k, v in times.items()}
    print(f"CPU: {cpu_name()}, {torch.get_num_threads()} threads; {args.model} {args.layer} "
          f"({maps.channels} channels, {maps.size[0]}x{maps.size[1]}), {pictures.label}")
    print(f"bare forwards (whole model) {t['bare']:.2f} s, up to the layer {t['bare to layer']:.2f} s, "
          f"pass recording every channel {t['pass']:.2f} s (medians of {args.repeats})")
    ratio = t["pass"] / t["bare"]
    print(f"pass / bare forwards = {ratio:.2f}x  [{'PASS' if ratio <= 1.2 else 'MISS'}: goal <= 1.2x]; "
          f"pass / bare forwards to the layer = {t['pass'] / t['bare to layer']:.2f}x")
    view_times(model, info, args, settings, kept)


def view_times(model, info, args, settings, kept) -> None:
    """A channel's view as the endpoint makes it: the pass looked up (kept), then its examples read."""
    passes = Kept(max_items=1)
    ex.dataset_examples(model, info, args.layer, args.data, settings, kept=passes)  # the pass, once
    seconds, figure = [], []
    for channel in ex.ranked_channels(kept)[:20]:
        start = time.perf_counter()
        view = ex.channel_examples(ex.dataset_examples(model, info, args.layer, args.data, settings, kept=passes),
                                   channel)
        seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        ex.examples_figure(view).savefig("/dev/null", format="png", dpi=100)
        figure.append(time.perf_counter() - start)
    worst = max(seconds)
    print(f"a channel's view (look-up + {settings.k} pictures and patches), 20 channels: median "
          f"{statistics.median(seconds) * 1000:.1f} ms, worst {worst * 1000:.1f} ms  "
          f"[{'PASS' if worst <= 0.2 else 'MISS'}: goal <= 0.2 s]; its figure as a PNG: median "
          f"{statistics.median(figure) * 1000:.0f} ms; passes run: {passes.builds}")


if __name__ == "__main__":
    main()
