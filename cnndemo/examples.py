"""Example photos for the gallery: CC0 / public-domain images shipped inside scikit-image."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

# name -> skimage.data loader; every one ships inside the wheel, so this works offline
_LOADERS = {
    "chelsea (cat)": "chelsea",
    "coffee": "coffee",
    "astronaut": "astronaut",
    "rocket": "rocket",
    "horse (silhouette)": "horse",
    "motorcycle": "stereo_motorcycle",
}


def example_names() -> list[str]:
    """Names of the example photos, in gallery order."""
    return list(_LOADERS)


@lru_cache(maxsize=None)
def example_image(name: str) -> Image.Image:
    """One example photo as an RGB PIL image (loaded from scikit-image at run time)."""
    import skimage.data  # lazy: only the gallery needs it

    if name not in _LOADERS:
        raise ValueError(f"unknown example {name!r}; choose one of: {', '.join(_LOADERS)}")
    array = getattr(skimage.data, _LOADERS[name])()
    array = array[0] if isinstance(array, tuple) else array  # stereo pairs: take the left view
    if array.dtype == bool:
        array = np.where(array, 0, 255).astype(np.uint8)  # black horse on white
    return Image.fromarray(array).convert("RGB")


def example_files(folder: Path) -> list[Path]:
    """Write the examples as PNG files into folder (for a UI gallery) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in example_names():
        path = folder / (name.split(" ")[0] + ".png")
        if not path.exists():
            example_image(name).save(path)
        paths.append(path)
    return paths


def placed(name: str, size: tuple[int, int], centre: tuple[float, float], share: float,
           fill: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """A generated photo: example name scaled to share of the width of a size canvas of colour fill, its middle
    at centre (fractions of the canvas): an object far away, for the framing tests and bench."""
    obj = example_image(name)
    width = max(1, round(size[0] * share))
    obj = obj.resize((width, max(1, round(width * obj.size[1] / obj.size[0]))), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", size, fill)
    canvas.paste(obj, (round(centre[0] * size[0] - obj.size[0] / 2), round(centre[1] * size[1] - obj.size[1] / 2)))
    return canvas
