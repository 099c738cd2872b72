"""Benchmark: the class builder and the offline shapes set, end to end on a 2-core CPU (issue 16's speed goals).

(a) shapes with the Train tab's defaults (SHAPES_RECIPE, drawing the pictures included): >= 90 % in <= 30 s;
(b) three classes of 20 photos each, CLASS_SET_RECIPE (new head on frozen EfficientNet-Lite0 features): >= 90 %
    on held-out photos of the same classes in <= 30 s end to end (pictures through the safe loader, model and
    weights, the feature pass, training, evaluation); then five more pictures and training again: <= 5 s, with
    frozen forwards over the five new pictures only.
Photos: three CIFAR-10 classes (JPEG copy, upscaled from 32 px) when ../shared/data has the archive, and three
photo-like classes made from scikit-image's sample photos (random crops, flips and colour jitter). Held-out
accuracy is given twice: on the set's automatic split (a few pictures per class) and on 100 more photos per class
that the set never saw, each with its 95 % Wilson interval.
Usage: python bench/class_builder.py [--data-root ../shared/data] [--finetune-sweep]
"""
from __future__ import annotations

import argparse
import sys
import tarfile
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from cnndemo.data import ClassSet, data_root  # noqa: E402
from cnndemo.train import (CLASS_SET_RECIPE, SHAPES_RECIPE, Epoch, FeatureCache, Start, predictions, train,  # noqa: E402
                           wilson_interval)
from cnndemo.train.evaluate import checkpoint_spec  # noqa: E402

CIFAR_CLASSES = ("cat", "ship", "truck")
PHOTOS = ("chelsea", "coffee", "rocket")  # a cat, a cup of coffee, a rocket on its launch pad
PER_CLASS, EXTRA_TEST, ADDED = 20, 100, (2, 2, 1)


def pct(acc: float, n: int) -> str:
    """An accuracy with its 95 % interval."""
    lo, hi = wilson_interval(round(acc * n), n)
    return f"{acc:.1%} of {n} (95 % interval {lo:.0%}-{hi:.0%})"


def bench_shapes(tmp: str) -> None:
    """(a) The Train tab's offline defaults, from drawing the pictures to the checkpoint."""
    t0 = time.perf_counter()
    msgs = list(train(replace(SHAPES_RECIPE, out=f"{tmp}/shapes", log_every=1000)))
    wall, done = time.perf_counter() - t0, msgs[-1]
    start, acc = next(m for m in msgs if isinstance(m, Start)), done.metrics["test_acc"]
    ok = "PASS" if acc >= 0.9 and wall <= 30 else "MISS"
    print(f"(a) shapes, {SHAPES_RECIPE.model} {SHAPES_RECIPE.epochs} epochs lr {SHAPES_RECIPE.lr}: "
          f"{start.n_train} train / {start.n_test} test pictures, {wall:.1f}s end to end, test accuracy "
          f"{pct(acc, done.n_test)}  [{ok}: goal >= 90 % in <= 30 s]", flush=True)


def cifar_photos(root: Path, n: int) -> dict[str, list[bytes]]:
    """The JPEG bytes of the first n training photos and EXTRA_TEST test photos of each chosen CIFAR-10 class."""
    want = {(split, c): [] for split in ("train", "test") for c in CIFAR_CLASSES}
    with tarfile.open(root / "cifar10-jpeg.tar.gz", "r|gz") as tf:
        for m in tf:
            parts = m.name.split("/")
            if m.isfile() and len(parts) == 3 and (parts[0], parts[1]) in want:
                want[parts[0], parts[1]].append((parts[2], tf.extractfile(m).read()))
    pick = {"train": n, "test": EXTRA_TEST}
    return {f"{split}/{c}": [d for _, d in sorted(v)[:pick[split]]] for (split, c), v in want.items()}


def photo_like(name: str, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """n photo-like pictures of one scikit-image photo: random crops (40-90 % of the side), flips, colour jitter."""
    import skimage.data

    photo = getattr(skimage.data, name)()
    h, w = photo.shape[:2]
    out = []
    for _ in range(n):
        side = int(min(h, w) * rng.uniform(0.4, 0.9))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = photo[y:y + side, x:x + side].astype(np.float32)
        crop = crop[:, ::-1] if rng.random() < 0.5 else crop
        crop = crop * rng.uniform(0.7, 1.3, 3) + rng.uniform(-30, 30)  # per-channel gain, brightness shift
        out.append(np.clip(crop, 0, 255).astype(np.uint8))
    return out


def skimage_photos(n: int) -> dict[str, list[np.ndarray]]:
    """Train pictures (seed 0) and EXTRA_TEST held-out pictures (seed 1) per photo class."""
    train_rng, test_rng = np.random.default_rng(0), np.random.default_rng(1)
    return {**{f"train/{c}": photo_like(c, n, train_rng) for c in PHOTOS},
            **{f"test/{c}": photo_like(c, EXTRA_TEST, test_rng) for c in PHOTOS}}


def extra_accuracy(checkpoint: str, classes: tuple[str, ...], photos: dict) -> tuple[float, int]:
    """Accuracy of a checkpoint on the held-out photos the set never saw."""
    from cnndemo.models import load_checkpoint

    extra = ClassSet(classes)
    for c in classes:
        extra.add(c, photos[f"test/{c}"])
    data = extra.data()
    model, meta = load_checkpoint(checkpoint)
    pred = predictions(model, data, checkpoint_spec(meta))
    return float((pred == data.labels).float().mean()), len(data)


def bench_class_set(label: str, classes: tuple[str, ...], photos: dict, tmp: str) -> None:
    """(b) Pictures in, a trained head out; then five pictures more and training again."""
    cache = FeatureCache()
    t0 = time.perf_counter()
    cs = ClassSet(classes)
    for c in classes:
        cs.add(c, photos[f"train/{c}"][:PER_CLASS])
    done = list(train(replace(CLASS_SET_RECIPE, out=f"{tmp}/{classes[0]}", log_every=1000), cs.splits(),
                      features=cache))[-1]
    wall, acc, n = time.perf_counter() - t0, done.metrics["test_acc"], done.n_test
    extra, n_extra = extra_accuracy(done.checkpoint, classes, photos)
    ok = "PASS" if min(acc, extra) >= 0.9 and wall <= 30 else "MISS"
    print(f"(b) {label}: {len(cs)} pictures ({done.n_train} train / {n} held out), {wall:.1f}s end to end, "
          f"held-out accuracy {pct(acc, n)}; on {n_extra} more photos: {pct(extra, n_extra)}  "
          f"[{ok}: goal >= 90 % in <= 30 s]", flush=True)
    before, t1 = cache.forwards, time.perf_counter()
    for c, k in zip(classes, ADDED):
        cs.add(c, photos[f"train/{c}"][PER_CLASS:PER_CLASS + k])
    done = list(train(replace(CLASS_SET_RECIPE, out=f"{tmp}/{classes[0]}2", log_every=1000), cs.splits(),
                      features=cache))[-1]
    wall = time.perf_counter() - t1
    ok = "PASS" if wall <= 5 else "MISS"
    print(f"    + {sum(ADDED)} pictures, trained again: {wall:.1f}s, frozen forwards {cache.forwards - before} "
          f"(new pictures only), held-out accuracy {pct(done.metrics['test_acc'], done.n_test)}  "
          f"[{ok}: goal <= 5 s]", flush=True)


def finetune_sweep(classes: tuple[str, ...], photos: dict, tmp: str) -> None:
    """Test loss of fine-tuning all layers at several learning rates (why DEFAULT_LR["finetune"] is what it is)."""
    cs = ClassSet(classes)
    for c in classes:
        cs.add(c, photos[f"train/{c}"][:PER_CLASS])
    for lr in (3e-3, 1e-3, 3e-4, 1e-4):
        cfg = replace(CLASS_SET_RECIPE, mode="finetune", epochs=8, batch_size=16, lr=lr, keep="last",
                      out=f"{tmp}/ft", log_every=1000)
        epochs = [m for m in train(cfg, cs.splits()) if isinstance(m, Epoch)]
        print(f"    finetune lr {lr:g}: test loss per epoch " + " ".join(f"{e.test_loss:.2f}" for e in epochs)
              + f"; last accuracy {epochs[-1].test_acc:.0%}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=None)
    p.add_argument("--finetune-sweep", action="store_true", help="also fine-tune at four learning rates (slow)")
    args = p.parse_args()
    from cnndemo.train import device_name, pick_device

    print(f"hardware: {device_name(pick_device())}; the 2 cores are shared with other work, so times vary")
    root = data_root(args.data_root)
    with tempfile.TemporaryDirectory() as tmp:
        bench_shapes(tmp)
        sources = [("photo-like crops of scikit-image photos", PHOTOS, skimage_photos(PER_CLASS + 2))]
        if (root / "cifar10-jpeg.tar.gz").is_file():
            sources.insert(0, ("CIFAR-10 (JPEG copy) cat/ship/truck", CIFAR_CLASSES, cifar_photos(root, 25)))
        for label, classes, photos in sources:
            bench_class_set(label, classes, photos, tmp)
            if args.finetune_sweep:
                finetune_sweep(classes, photos, tmp)


if __name__ == "__main__":
    main()
