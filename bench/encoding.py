"""What Explore's /attribute handler costs with its photos encoded as JPEG (the app) or as PNG (before), side by side.

The handler (cnndemo.ui.explore.attribute, called as Gradio calls it, without the HTTP round trip) draws the heatmap
over the upload and the dimmed upload for the before / after slider (photos: outputs.photo_file), and the numbered
colour bar (a chart: PNG either way). Two requests, each a median over repeats, in the same run for both encoders:
  fresh   a picture not seen before: decode, forward, Grad-CAM, drawing and encoding,
  change  the opacity of a picture already explained: decode, the cached heatmap, drawing and encoding.
It also times encoding alone (the two photo pictures of one answer) and prints every ratio PNG / JPEG.

Run: OMP_NUM_THREADS=1 python bench/encoding.py [--model efficientnet_lite0] [--side 1024] [--repeats 9]
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnndemo import outputs  # noqa: E402
from cnndemo.examples import example_image  # noqa: E402
from cnndemo.ui import common, explore  # noqa: E402
from cnndemo.ui.context import AppContext  # noqa: E402


def photos(folder: Path, side: int, n: int) -> list[str]:
    """n different photo files of side px on the long side: the cat example, enlarged and shifted in colour."""
    cat = example_image("chelsea (cat)").convert("RGB")
    big = cat.resize((side, round(side * cat.height / cat.width)), Image.Resampling.LANCZOS)
    paths = []
    for i in range(n):
        shifted = np.clip(np.asarray(big, dtype=np.int16) + i, 0, 255).astype(np.uint8)
        paths.append(str(folder / f"photo{i}.jpg"))
        Image.fromarray(shifted).save(paths[-1], quality=90)
    return paths


def timed(call) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def handler_times(ctx: AppContext, model: str, paths: list[str]) -> tuple[float, float]:
    """Median seconds of a fresh request and of an opacity change (on the picture just explained)."""
    fresh, change = [], []
    for i, path in enumerate(paths):
        fresh.append(timed(lambda: explore.attribute(ctx, path, model, "gradcam", "", "", 0.5, False)))
        change.append(timed(lambda: explore.attribute(ctx, path, model, "gradcam", "", "", 0.3 + 0.05 * i, False)))
    return statistics.median(fresh), statistics.median(change)


def encode_time(pictures: list[np.ndarray], fmt: str, repeats: int) -> float:
    """Median seconds to encode the pictures of one answer the way the app would with this format."""
    kwargs = {"PNG": {}, "JPEG": {"quality": outputs.PHOTO_QUALITY, "subsampling": 0}}[fmt]

    def encode() -> None:
        for picture in pictures:
            Image.fromarray(picture).save(io.BytesIO(), format=fmt, **kwargs)
    return statistics.median(timed(encode) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=common.DEFAULT_MODEL)
    parser.add_argument("--side", type=int, default=1024, help="long side of the uploaded photos, px")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    ctx = AppContext()
    ctx.cache.get(args.model)  # loaded before timing
    with tempfile.TemporaryDirectory() as tmp:
        paths = photos(Path(tmp), args.side, 2 * args.repeats + 1)
        explore.attribute(ctx, paths[-1], args.model, "gradcam", "", "", 0.5, False)  # warm-up
        jpeg = handler_times(ctx, args.model, paths[:args.repeats])
        common.photo_file = outputs.image_file  # as before: every picture a PNG
        png = handler_times(ctx, args.model, paths[args.repeats:2 * args.repeats])
        picture = common.decoded(paths[0])
        view = ctx.cache.get(args.model).attribute(picture, common.explain_settings("gradcam"))
        photo = common.photo_for(picture, ctx.zoo.info(args.model).weights)
        answer = [photo.heat(view.heatmap, 0.5), photo.outside_dimmed()]
    size = "x".join(map(str, answer[0].shape[1::-1]))
    print(f"{args.model}, {args.side} px uploads drawn at {size}, medians of {args.repeats}")
    for name, j, p in (("fresh request", *jpeg[:1], *png[:1]), ("opacity change", jpeg[1], png[1]),
                       ("encoding the 2 photos", encode_time(answer, "JPEG", 15), encode_time(answer, "PNG", 15))):
        print(f"{name:24s} JPEG {1000 * j:7.1f} ms   PNG {1000 * p:7.1f} ms   PNG / JPEG {p / j:5.2f}")


if __name__ == "__main__":
    main()
