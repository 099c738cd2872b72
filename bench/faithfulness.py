"""Trust-check speed on CPU, and how far the ranking puts each method above a random map.

Speed: ResNet-18 (ImageNet form, random weights) at 224 x 224; measures side by side, in one run, medians over
repeats of
  (a) the floor: one plain forward of one picture without gradients,
  (b) faithfulness of one Grad-CAM map (deletion + insertion, default steps, batched), from the cached forward,
      goal <= 1 s, and b/a (how many plain forwards it costs),
  (c) the same for Saliency (its map computed fresh each time: a backward to the input),
then once: ranking every quick method on one picture (what /rank_methods does), optionally the slower ones too,
and the sanity check of Grad-CAM (deep copy + cascade of <= 6 randomisation stages).

Margin: on the trained resnet18_cifar and 20 CIFAR-10 test pictures from ../shared/data (2 per class, each scored
for its true class), the ranking's score (insertion area minus deletion area) of every method against that of a
random map on the same pictures: the means, their difference (the margin), on how many pictures the method wins,
and the average drop beside the share of the picture each map keeps (the mean of its values).

Twin: what the rule-based methods pay for seeing every activation (methods/activations.py): medians of building
the ruled twin (a torch.fx trace), Guided Backprop and DeepLift (each builds one), and Saliency (a plain backward)
on four models, with the twin's share of each.

Run: python bench/faithfulness.py [--repeats 7] [--slower] [--part speed|margin|twin|all]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnndemo.explain import Explainer, ExplainSettings, hooks_left, methods  # noqa: E402
from cnndemo.explain.faithfulness import DEFAULT_STEPS, faithfulness, mean_of  # noqa: E402
from cnndemo.models import get_model, model_info  # noqa: E402

MARGIN_SETTINGS = ExplainSettings(ig_steps=16, nt_samples=4)  # what Explore and Trust draw with


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


def cifar_pictures(per_class: int = 2) -> list[tuple[Image.Image, int]]:
    """(picture, true class) of the first CIFAR-10 test pictures of each class in ../shared/data."""
    from cnndemo.data import DataSettings
    from cnndemo.data.builtin import load_dataset

    test = load_dataset("cifar10", split="test", settings=DataSettings(test_limit_per_class=per_class))
    return [(Image.fromarray(im.permute(1, 2, 0).numpy()), int(c)) for im, c in zip(test.images, test.labels)]


def margin() -> None:
    """Every method's ranking score against a random map's on trained resnet18_cifar, 20 CIFAR-10 test pictures."""
    from cnndemo.zoo import Zoo

    explainer, pictures = Explainer(*Zoo().load("resnet18_cifar"), max_records=2), cifar_pictures()
    rng = np.random.default_rng(0)
    random = [faithfulness(explainer.model, explainer.record(p).x, rng.random((32, 32)).astype(np.float32), c)
              for p, c in pictures]
    base = mean_of(random)
    base_score = base["insertion_auc"] - base["deletion_auc"]
    print(f"\nresnet18_cifar (trained), {len(pictures)} CIFAR-10 test pictures, true class; score = insertion - "
          "deletion (the ranking's sort key)")
    print(f"{'method':22s} {'score':>6s} {'margin':>7s} {'wins':>6s} {'avg drop':>9s} {'map keeps':>10s}")
    print(f"{'random map':22s} {base_score:6.3f} {'':7s} {'':6s} {base['average_drop']:9.0%} {0.5:10.0%}")
    for method in methods():
        runs = [explainer.faithfulness(p, replace(MARGIN_SETTINGS, method=method.name, target=c))
                for p, c in pictures]
        mean = mean_of([r for _, r in runs])
        score = mean["insertion_auc"] - mean["deletion_auc"]
        wins = sum(r.score > q.score for (_, r), q in zip(runs, random))
        keeps = float(np.mean([view.heatmap.mean() for view, _ in runs]))
        print(f"{method.label:22s} {score:6.3f} {score - base_score:+7.3f} {wins:3d}/{len(runs):<2d} "
              f"{mean['average_drop']:9.0%} {keeps:10.0%}")


def twin_cost(repeats: int) -> None:
    """Median seconds of the ruled twin, Guided Backprop, DeepLift and Saliency on four models, side by side."""
    from cnndemo.explain.guard import ModelGuard
    from cnndemo.explain.methods.activations import ruled_twin

    print(f"\n{'model':20s} {'twin':>8s} {'guided bp':>10s} {'deeplift':>10s} {'saliency':>10s}  twin share of gb / dl")
    for name in ("lenet5", "resnet18", "densenet121_cifar", "efficientnet_lite0"):
        torch.manual_seed(0)
        explainer = Explainer(get_model(name), model_info(name))
        x = torch.randn(1, *model_info(name).input_size)
        calls = {"twin": lambda: _traced(explainer.model, ModelGuard, ruled_twin)}
        calls.update({m: (lambda m=m: explainer.method(m)(x, 0)) for m in ("guided_backprop", "deeplift", "saliency")})
        med = {k: statistics.median([timed(f) for _ in range(repeats + 1)][1:]) for k, f in calls.items()}
        print(f"{name:20s} {med['twin'] * 1e3:6.0f}ms {med['guided_backprop'] * 1e3:8.0f}ms "
              f"{med['deeplift'] * 1e3:8.0f}ms {med['saliency'] * 1e3:8.0f}ms  "
              f"{med['twin'] / med['guided_backprop']:.0%} / {med['twin'] / med['deeplift']:.0%}")


def _traced(model: torch.nn.Module, guard, trace) -> None:
    """Build the ruled twin the way a method does: inside the model's guard."""
    with guard(model):
        trace(model)


def main() -> None:
    """Run the parts asked for: speed (ResNet-18 built once) and the margin over a random map."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--slower", action="store_true", help="also rank with the slower methods")
    parser.add_argument("--part", choices=("speed", "margin", "twin", "all"), default="all")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.part in ("speed", "all"):
        explainer = Explainer(get_model("resnet18"), model_info("resnet18"))
        speed(explainer, args.repeats)
        once(explainer, args.slower)
    if args.part in ("margin", "all"):
        margin()
    if args.part in ("twin", "all"):
        twin_cost(args.repeats)


if __name__ == "__main__":
    main()
