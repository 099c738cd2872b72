"""Benchmark: /train_classes end to end through the app, as a script calls it with gradio_client (issue 16).

Three classes of 20 pictures each go up as files; the call returns when the run is done. Then five pictures more
and the same call again from the same client: its session keeps the frozen features, so only the new pictures
pass through EfficientNet-Lite0. Printed side by side: both wall times, their ratio, the held-out accuracy of the
set's own split (a few pictures per class) and of 100 more photos per class the set never saw (95 % intervals).
Photos: CIFAR-10 cat/ship/truck (JPEG copy, upscaled from 32 px) when ../shared/data has the archive, and
photo-like crops of three scikit-image sample photos.
Usage: python bench/train_classes_app.py [--data-root ../shared/data]
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from class_builder import CIFAR_CLASSES, PHOTOS, cifar_photos, extra_accuracy, pct, skimage_photos  # noqa: E402

from cnndemo.data import data_root  # noqa: E402

PER_CLASS, ADDED = 20, (2, 2, 1)


def write(photos: dict, folder: Path) -> dict[str, list[str]]:
    """Every picture (JPEG bytes or an RGB array) as a file, per key."""
    from PIL import Image

    files = {}
    for key, pics in photos.items():
        files[key] = []
        for i, pic in enumerate(pics):
            path = folder / f"{key.replace('/', '-')}-{i}.{'jpg' if isinstance(pic, bytes) else 'png'}"
            path.write_bytes(pic) if isinstance(pic, bytes) else Image.fromarray(pic).save(path)
            files[key].append(str(path))
    return files


def call(client, classes: tuple[str, ...], files: dict, counts: tuple[int, ...]) -> tuple[float, str, str, dict]:
    """One /train_classes call with the first counts[i] training files of class i: wall time, progress, files."""
    from gradio_client import handle_file

    groups = {f"pictures_{i + 1}": [handle_file(p) for p in files[f"train/{c}"][:n]]
              for i, (c, n) in enumerate(zip(classes, counts))}
    t0 = time.perf_counter()
    out = client.predict(class_names=", ".join(classes), **groups, api_name="/train_classes")
    elapsed = time.perf_counter() - t0
    files = client.predict(out[5]["value"], api_name="/download_run")  # the run's files, asked for after the run
    return elapsed, out[0], files, out[5]


def held_out(progress: str) -> str:
    """The test accuracy and its interval as the progress text states them."""
    found = re.search(r"\*\*([\d.]+) %\*\* on (\d+) test pictures( \(95 % interval [\d-]+ %\))?", progress)
    return f"{found.group(1)} % of {found.group(2)}{found.group(3) or ''}" if found else progress[:300]


def bench(client, label: str, classes: tuple[str, ...], photos: dict, folder: Path) -> None:
    """First call and the call after five more pictures, side by side."""
    files = write(photos, folder)
    first, progress, ckpt, _ = call(client, classes, files, (PER_CLASS,) * len(classes))
    from cnndemo.ui.train import RUNS  # the server runs in this process: its own copy of the checkpoint

    weights = next(Path(str(f)).name for f in ckpt if str(f).endswith(".safetensors"))
    acc, n = extra_accuracy(str(RUNS / weights), classes, photos)
    print(f"{label}: 3 x {PER_CLASS} pictures, /train_classes {first:.1f}s end to end; held-out "
          f"{held_out(progress)}; on {n} more photos {pct(acc, n)}", flush=True)
    again, progress, _, _ = call(client, classes, files, tuple(PER_CLASS + a for a in ADDED))
    print(f"    + {sum(ADDED)} pictures, same client: {again:.1f}s ({first / again:.1f}x faster than the first "
          f"call); held-out {held_out(progress)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    from gradio_client import Client

    import app
    from cnndemo.train import device_name, pick_device
    from tests.conftest import launch

    print(f"hardware: {device_name(pick_device())}; the 2 cores are shared with other work, so times vary")
    demo = launch(app.build_demo())
    root = data_root(args.data_root)
    sources = [("photo-like crops of scikit-image photos", PHOTOS, skimage_photos(PER_CLASS + 2))]
    if (root / "cifar10-jpeg.tar.gz").is_file():
        sources.insert(0, ("CIFAR-10 (JPEG copy) cat/ship/truck", CIFAR_CLASSES, cifar_photos(root, 25)))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, (label, classes, photos) in enumerate(sources):
                folder = Path(tmp) / str(i)
                folder.mkdir()
                bench(Client(demo.local_url, verbose=False), label, classes, photos, folder)  # a fresh session
    finally:
        demo.close()


if __name__ == "__main__":
    main()
