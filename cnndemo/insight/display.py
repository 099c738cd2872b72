"""Pictures of what a network has learnt, drawn for a projector (no gradio here): small model inputs enlarged by a
whole factor with nearest-neighbour (every pixel stays a block, nothing is invented), and a dataset example as its
picture with the patch the channel sees boxed in red and the rest dimmed."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from cnndemo.explain.picture import Photo

from .examples import Example

TILE = 160  # the least side of a picture a lesson points at, in screen pixels at 1280 x 720
EXAMPLE_SIDE = 192  # a dataset example is drawn at least this large (its box stays a few pixels wide)
BOX = (230, 30, 30)  # the receptive-field box: red on any picture
BOX_WIDTH = 2


def enlarged(picture: np.ndarray, side: int = TILE) -> np.ndarray:
    """A uint8 picture (H x W or H x W x 3) enlarged by the smallest whole factor that makes its long side at least
    side pixels (a picture that is already large enough is returned as it is)."""
    factor = _factor(picture, side)
    return np.ascontiguousarray(picture.repeat(factor, axis=0).repeat(factor, axis=1))


def example_tile(example: Example, side: int = EXAMPLE_SIDE) -> np.ndarray:
    """One dataset example as one square picture: the whole picture as the model sees it, enlarged, with the patch
    the channel sees at full brightness inside a red box and the rest dimmed (explain.picture's dimming)."""
    picture = _rgb(example.picture)
    factor = _factor(picture, side)
    top, left, bottom, right = (v * factor for v in example.box)
    big = Photo(enlarged(picture, side), (left, top, right, bottom))
    image = Image.fromarray(big.outside_dimmed())
    ImageDraw.Draw(image).rectangle((left, top, right - 1, bottom - 1), outline=BOX, width=BOX_WIDTH)
    return np.asarray(image)


def _factor(picture: np.ndarray, side: int) -> int:
    """The smallest whole factor that makes the picture's long side at least side pixels (at least 1)."""
    return max(1, math.ceil(side / max(picture.shape[:2])))


def _rgb(picture: np.ndarray) -> np.ndarray:
    """A uint8 grey or colour picture as H x W x 3."""
    return np.repeat(picture[..., None], 3, axis=2) if picture.ndim == 2 else picture[..., :3]
