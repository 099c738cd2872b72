"""Shapes: a built-in data set drawn by code (no download, no data folder), so training works on any machine.

Each picture is one filled shape (circle, square, triangle, star, cross) at a random place, size, angle and
colour on a random background, drawn at twice the size and shrunk (smooth edges). The train and test splits come
from two fixed seeds, so every machine draws the same pictures.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
from PIL import Image, ImageDraw

from .tensors import TensorData

NAME = "shapes"
CLASSES = ("circle", "square", "triangle", "star", "cross")
SIZE = 32  # side of a picture, as CIFAR-10: every colour 32x32 model in the registry reads it
TRAIN_PER_CLASS = 1000
TEST_PER_CLASS = 200
SEEDS = {"train": 1, "test": 2}  # different seeds: no test picture is a training picture
MIN_CONTRAST = 80  # grey-level gap between shape and background, so grey models see the shape too
_SCALE = 2  # drawn at twice the size, then shrunk with a smooth filter


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """The corners of a square, triangle, star or cross of radius r around (cx, cy), turned by angle."""
    if kind == "square":
        pts = [(r * math.cos(a), r * math.sin(a)) for a in np.arange(4) * math.pi / 2 + math.pi / 4]
    elif kind == "triangle":
        pts = [(r * math.cos(a), r * math.sin(a)) for a in np.arange(3) * 2 * math.pi / 3 - math.pi / 2]
    elif kind == "star":
        pts = [((r if i % 2 == 0 else 0.45 * r) * math.cos(a), (r if i % 2 == 0 else 0.45 * r) * math.sin(a))
               for i, a in enumerate(np.arange(10) * math.pi / 5 - math.pi / 2)]
    else:  # a plus-shaped cross with arms a third as wide as it is long
        w = r / 3
        pts = [(w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w), (-r, -w), (-w, -w),
               (-w, -r)]
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts]


def _colours(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A background and a shape colour whose grey levels differ by at least MIN_CONTRAST."""
    grey = np.array([0.299, 0.587, 0.114])
    while True:
        back, fore = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        if abs(float(grey @ back) - float(grey @ fore)) >= MIN_CONTRAST:
            return tuple(int(v) for v in back), tuple(int(v) for v in fore)


def draw(kind: str, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One picture of a shape as a (size, size, 3) uint8 array."""
    big = size * _SCALE
    back, fore = _colours(rng)
    r = rng.uniform(0.22, 0.42) * big
    cx, cy = rng.uniform(r, big - r, 2)
    im = Image.new("RGB", (big, big), back)
    pen = ImageDraw.Draw(im)
    if kind == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fore)
    else:
        pen.polygon(_polygon(kind, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=fore)
    return np.asarray(im.resize((size, size), Image.Resampling.LANCZOS))


@functools.lru_cache(maxsize=4)
def _drawn(split: str, per_class: int) -> TensorData:
    """Every picture of one split, drawn once per process (about a second for the training split)."""
    rng = np.random.default_rng(SEEDS[split])
    labels = np.tile(np.arange(len(CLASSES)), per_class)  # classes interleaved: any prefix is balanced
    images = np.stack([draw(CLASSES[c], rng) for c in labels])
    return TensorData(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                      torch.from_numpy(labels).long(), CLASSES, NAME)


def load(split: str) -> TensorData:
    """The train (1,000 per class) or test (200 per class) split of the shapes data set."""
    return _drawn(split, TRAIN_PER_CLASS if split == "train" else TEST_PER_CLASS)
