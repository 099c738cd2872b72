"""A class-builder set: 2 to 10 named classes whose pictures come one by one (uploads, webcam snapshots, sketches).

Every picture enters through cnndemo.images.open_image (the one safe loader) and is kept as a square RGB array
of one size, so the set becomes one uint8 tensor. A refused picture gets a sentence and the rest are kept. The
held-out split is automatic: stratified, about a fifth of each class, at least one picture per class.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import BadInputError
from .builtin import Splits
from .tensors import TensorData, split_holdout


@dataclass(frozen=True)
class ClassSetLimits:
    """How big a class-builder set may grow (it lives in the server's memory, one per browser session)."""

    min_classes: int = 2
    max_classes: int = 10
    max_per_class: int = 100
    max_total: int = 500
    side: int = 160  # pictures are kept as side x side RGB (centre crop): 77 KB each
    max_name_chars: int = 40
    holdout: float = 0.2  # share of each class held out for testing
    min_per_class: int = 2  # one to train on and one to test on


@dataclass(frozen=True)
class Picture:
    """One picture of a class: (side, side, 3) uint8 pixels and a hash of them."""

    pixels: np.ndarray
    digest: str


@dataclass(frozen=True)
class AddResult:
    """What happened to pictures given to ClassSet.add: how many went in, and one sentence per refused one."""

    added: int
    refused: tuple[str, ...]


def check_class_names(names: Sequence[str], limits: ClassSetLimits = ClassSetLimits()) -> tuple[str, ...]:
    """The class names, trimmed, or BadInputError saying what is wrong with them."""
    clean = tuple(str(n).strip() for n in names)
    if len(clean) < limits.min_classes:
        raise BadInputError(f"a classifier needs at least {limits.min_classes} classes; name "
                            f"{limits.min_classes - len(clean)} more")
    if len(clean) > limits.max_classes:
        raise BadInputError(f"at most {limits.max_classes} classes, not {len(clean)}")
    if any(not n for n in clean):
        raise BadInputError("every class needs a name; one of them is empty")
    long = next((n for n in clean if len(n) > limits.max_name_chars), None)
    if long:
        raise BadInputError(f"the class name {long[:20]!r}... is too long; keep names to {limits.max_name_chars} "
                            "characters")
    folded = [n.casefold() for n in clean]
    twice = next((n for n, f in zip(clean, folded) if folded.count(f) > 1), None)
    if twice:
        raise BadInputError(f"two classes are both called {twice!r}; give each class its own name")
    return clean


def _label(source: object, number: int) -> str:
    """How a refusal names a picture: its file name where it has one, else its place in the upload."""
    path = source if isinstance(source, (str, os.PathLike)) else getattr(source, "name", None)
    return repr(Path(path).name) if isinstance(path, (str, os.PathLike)) else f"picture {number}"


def to_picture(source, side: int) -> Picture:
    """A file path, bytes, file object, PIL image or numpy array as a Picture, through the safe loader."""
    from PIL import ImageOps

    from ..images import open_image

    image = ImageOps.fit(open_image(source).convert("RGB"), (side, side))
    pixels = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    pixels.setflags(write=False)
    return Picture(pixels, hashlib.blake2b(pixels.tobytes(), digest_size=16).hexdigest())


class ClassSet:
    """Named classes and their pictures, added and removed one at a time; becomes Splits for the trainer."""

    def __init__(self, names: Sequence[str], limits: ClassSetLimits = ClassSetLimits(),
                 name: str = "my classes") -> None:
        self.limits, self.name = limits, name
        self.classes = check_class_names(names, limits)
        self._pictures: dict[str, list[Picture]] = {c: [] for c in self.classes}

    def __len__(self) -> int:
        return sum(len(p) for p in self._pictures.values())

    def counts(self) -> dict[str, int]:
        """Pictures per class, in class order."""
        return {c: len(self._pictures[c]) for c in self.classes}

    def pictures(self, class_name: str) -> tuple[Picture, ...]:
        """The pictures of one class, in the order they were added (for thumbnails)."""
        return tuple(self._pictures[self._class(class_name)])

    def _class(self, class_name: str) -> str:
        """The class of that name, or BadInputError."""
        if class_name not in self._pictures:
            raise BadInputError(f"there is no class {class_name!r}; the classes are {', '.join(self.classes)}")
        return class_name

    def add(self, class_name: str, sources: Iterable) -> AddResult:
        """Add pictures to a class; a picture that cannot be read, is already in the set or does not fit the
        limits is refused with a sentence, and the others are kept."""
        pics, refused, added = self._pictures[self._class(class_name)], [], 0
        for number, source in enumerate(sources, 1):
            try:
                pics.append(self._admit(class_name, to_picture(source, self.limits.side)))
                added += 1
            except BadInputError as e:
                refused.append(f"{_label(source, number)} was not added: {e}")
        return AddResult(added, tuple(refused))

    def _admit(self, class_name: str, picture: Picture) -> Picture:
        """The picture if it may join the class: not there already, and within the limits."""
        owner = next((c for c, ps in self._pictures.items() if any(p.digest == picture.digest for p in ps)), None)
        if owner is not None:
            raise BadInputError(f"the same picture is already in class {owner!r} (a copy could end up in both "
                                "the training and the test pictures)")
        if len(self._pictures[class_name]) >= self.limits.max_per_class:
            raise BadInputError(f"class {class_name!r} is full ({self.limits.max_per_class} pictures)")
        if len(self) >= self.limits.max_total:
            raise BadInputError(f"the set is full ({self.limits.max_total} pictures in all)")
        return picture

    def remove(self, class_name: str, index: int) -> None:
        """Remove the picture at index (0-based, in the order added) from a class."""
        pics = self._pictures[self._class(class_name)]
        if not 0 <= index < len(pics):
            raise BadInputError(f"class {class_name!r} has no picture number {index + 1} (it has {len(pics)})")
        del pics[index]

    def with_classes(self, names: Sequence[str]) -> ClassSet:
        """A set with these class names that keeps the pictures of every class whose name stays."""
        other = ClassSet(names, self.limits, self.name)
        for c in other.classes:
            other._pictures[c] = list(self._pictures.get(c, []))
        return other

    def check(self) -> None:
        """BadInputError unless every class has enough pictures to train on and to test on."""
        empty = [c for c in self.classes if not self._pictures[c]]
        if empty:
            raise BadInputError(f"class {empty[0]!r} has no pictures yet; add some before training")
        need = self.limits.min_per_class
        few = next((c for c in self.classes if len(self._pictures[c]) < need), None)
        if few:
            n = len(self._pictures[few])
            raise BadInputError(f"class {few!r} has only {n} picture{'s' * (n != 1)}, too few to split into training "
                                f"and test pictures; each class needs at least {need}")

    def data(self) -> TensorData:
        """Every picture as one uint8 (N, 3, side, side) tensor with its labels, classes in order."""
        pics = [p for c in self.classes for p in self._pictures[c]]
        side = self.limits.side
        images = torch.from_numpy(np.stack([p.pixels for p in pics])) if pics else torch.zeros(0, side, side, 3)
        labels = torch.tensor([i for i, c in enumerate(self.classes) for _ in self._pictures[c]], dtype=torch.int64)
        return TensorData(images.to(torch.uint8).permute(0, 3, 1, 2).contiguous(), labels, self.classes, self.name)

    def splits(self, seed: int = 0) -> Splits:
        """Training and held-out pictures: stratified, about limits.holdout of each class (at least one) held out."""
        self.check()
        return Splits(*split_holdout(self.data(), self.limits.holdout, seed))
