"""Safe intake of a user's image-folder archive (zip or tar.gz of class_name/image.jpg), read in memory.

Nothing is ever extracted to disk: members are read into memory one by one after their header has been
checked, so links, devices, absolute paths and '..' never reach the file system, and size limits are enforced
before a member is decompressed.
"""
from __future__ import annotations

import os
import stat
import tarfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np
import torch

from ..errors import BadInputError
from .tensors import TensorData

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLIT_NAMES = {"train": "train", "training": "train", "test": "test", "val": "test", "valid": "test",
               "validation": "test"}


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits that keep a hostile archive (bomb, huge entry count) from exhausting memory or time."""

    max_entries: int = 100_000
    max_entry_bytes: int = 20 * 2**20
    max_total_bytes: int = 1 * 2**30
    max_ratio: float = 200.0  # uncompressed / compressed, per entry (zip) and for the whole archive
    ratio_min_bytes: int = 2**20  # tiny members may compress very well; judge ratio above this size
    image_size: int = 128  # side length used when the images do not all share one size


@dataclass(frozen=True)
class ImageFolderData:
    """The images of an archive as tensors: train part, and test part when the archive has a test/ folder."""

    train: TensorData
    test: TensorData | None
    classes: tuple[str, ...]


@dataclass(frozen=True)
class _Member:
    """One image file read from the archive: its split ('train', 'test' or ''), class and bytes."""

    split: str
    label: str
    name: str
    data: bytes


def _check_name(name: str) -> PurePosixPath:
    """A member path that stays inside the archive, or BadInputError."""
    norm = name.replace("\\", "/")
    p = PurePosixPath(norm)
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":") or p.is_absolute():
        raise BadInputError(f"the archive contains an absolute path ({name!r}); refusing it")
    if ".." in p.parts:
        raise BadInputError(f"the archive contains a path that leaves its folder ({name!r}); refusing it")
    return p


def _skipped(p: PurePosixPath) -> bool:
    """Hidden files, macOS resource forks and non-images are ignored quietly."""
    if any(part.startswith(".") or part == "__MACOSX" for part in p.parts):
        return True
    return p.suffix.lower() not in IMAGE_SUFFIXES


class _Budget:
    """Counts entries and uncompressed bytes against the limits."""

    def __init__(self, limits: ArchiveLimits, compressed_size: int) -> None:
        self.limits, self.compressed = limits, max(compressed_size, 1)
        self.entries = self.total = 0

    def take(self, name: str, size: int, packed: int | None = None) -> None:
        lim = self.limits
        self.entries += 1
        self.total += size
        if self.entries > lim.max_entries:
            raise BadInputError(f"the archive has more than {lim.max_entries:,} entries; refusing it")
        if size > lim.max_entry_bytes:
            raise BadInputError(f"{name!r} is larger than {lim.max_entry_bytes // 2**20} MB; refusing the archive")
        if self.total > lim.max_total_bytes:
            raise BadInputError(f"the archive unpacks to more than {lim.max_total_bytes // 2**20} MB; refusing it")
        if packed is not None and size > lim.ratio_min_bytes and size / max(packed, 1) > lim.max_ratio:
            raise BadInputError(f"{name!r} is compressed suspiciously well (a zip bomb?); refusing the archive")
        if self.total > lim.ratio_min_bytes and self.total / self.compressed > lim.max_ratio:
            raise BadInputError("the archive is compressed suspiciously well (a zip bomb?); refusing it")


def _zip_members(path: Path, budget: _Budget) -> Iterator[tuple[PurePosixPath, bytes]]:
    """Image members of a zip file, checked before they are read."""
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > budget.limits.max_entries:
            raise BadInputError(f"the archive has more than {budget.limits.max_entries:,} entries; refusing it")
        for info in infos:
            p = _check_name(info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip tool recorded no Unix file type
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise BadInputError(f"the archive contains a link or special file ({info.filename!r}); refusing it")
            if info.is_dir():
                continue
            budget.take(info.filename, info.file_size, info.compress_size)
            if _skipped(p):
                continue
            with zf.open(info) as f:
                data = f.read(info.file_size + 1)  # never more than declared, whatever the stream says
            if len(data) != info.file_size:
                raise BadInputError(f"{info.filename!r} is damaged (size does not match); refusing the archive")
            yield p, data


def _tar_members(path: Path, budget: _Budget) -> Iterator[tuple[PurePosixPath, bytes]]:
    """Image members of a tar(.gz) file, streamed in one pass, checked before they are read."""
    with tarfile.open(path, mode="r|*") as tf:
        for m in tf:
            p = _check_name(m.name)
            if m.isdir():
                budget.take(m.name, 0)
                continue
            if not m.isfile() or m.issparse():
                raise BadInputError(f"the archive contains a link or special file ({m.name!r}); refusing it")
            budget.take(m.name, m.size)
            if _skipped(p):
                continue
            f = tf.extractfile(m)
            yield p, f.read(m.size) if f else b""


def _read_members(path: Path, limits: ArchiveLimits) -> list[_Member]:
    """Every image member with its split and class, after the layout has been understood."""
    budget = _Budget(limits, path.stat().st_size)
    reader = _zip_members if zipfile.is_zipfile(path) else _tar_members
    try:
        found = list(reader(path, budget))
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise BadInputError(f"the archive could not be read (damaged or not a zip/tar.gz): {e}") from None
    return _layout(found)


def _layout(found: list[tuple[PurePosixPath, bytes]]) -> list[_Member]:
    """Map paths to (split, class): class/img, train|test/class/img, optionally under one wrapper folder."""
    if not found:
        raise BadInputError("no images found in the archive; expected class_name/image.jpg entries")
    parts = [p.parts for p, _ in found]
    tops = {ps[0] for ps in parts}
    if len(tops) == 1 and all(len(ps) >= 3 for ps in parts) and next(iter(tops)).lower() not in SPLIT_NAMES:
        parts = [ps[1:] for ps in parts]  # a zipped folder: strip the wrapper
    split = all(len(ps) == 3 and ps[0].lower() in SPLIT_NAMES for ps in parts)
    if not split and any(len(ps) != 2 for ps in parts):
        bad = next("/".join(ps) for ps in parts if len(ps) != 2)
        raise BadInputError(f"images must sit in class folders (class_name/image.jpg); found {bad!r}")
    if split:
        return [_Member(SPLIT_NAMES[ps[0].lower()], ps[1], ps[2], d) for ps, (_, d) in zip(parts, found)]
    return [_Member("", ps[0], ps[1], d) for ps, (_, d) in zip(parts, found)]


def _decode(members: list[_Member], limits: ArchiveLimits) -> tuple[torch.Tensor, str]:
    """Decode every image through the safe loader into one uint8 tensor (N, C, H, W)."""
    from ..images import open_image  # the one safe way an image enters

    imgs = []
    for m in members:
        try:
            imgs.append(open_image(m.data))
        except BadInputError as e:
            raise BadInputError(f"an image in class {m.label!r} could not be read: {e}") from None
    mode = "RGB" if any(im.mode != "L" for im in imgs) else "L"
    sizes = Counter(im.size for im in imgs)
    size = next(iter(sizes)) if len(sizes) == 1 else (limits.image_size, limits.image_size)
    arrays = [np.asarray(_fit(im.convert(mode), size)) for im in imgs]
    x = torch.from_numpy(np.stack(arrays))
    return (x[:, None] if mode == "L" else x.permute(0, 3, 1, 2)).contiguous(), mode


def _fit(im, size: tuple[int, int]):
    """Resize the shorter side and centre-crop to size, keeping the aspect ratio."""
    if im.size == size:
        return im
    from PIL import ImageOps
    return ImageOps.fit(im, size)


def _tensors(members: list[_Member], classes: tuple[str, ...], name: str, limits: ArchiveLimits) -> TensorData:
    """Members of one split as a TensorData."""
    index = {c: i for i, c in enumerate(classes)}
    images, _ = _decode(members, limits)
    labels = torch.tensor([index[m.label] for m in members], dtype=torch.int64)
    return TensorData(images, labels, classes, name)


def _limit(members: list[_Member], n: int | None) -> list[_Member]:
    """The first n members of each class (members arrive sorted by name)."""
    if n is None:
        return members
    seen: Counter = Counter()
    out = []
    for m in members:
        seen[m.label] += 1
        if seen[m.label] <= n:
            out.append(m)
    return out


def load_image_folder_archive(path: str | os.PathLike, limits: ArchiveLimits = ArchiveLimits(), *,
                              limit_per_class: int | None = None,
                              test_limit_per_class: int | None = None) -> ImageFolderData:
    """Read a zip or tar.gz of class_name/image.jpg (optionally under train/ and test/) into tensors."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"no archive at {str(path)!r}")
    if not (zipfile.is_zipfile(path) or _looks_like_tar(path)):
        raise BadInputError(f"{path.name!r} is not an archive; upload a .zip or .tar.gz of class folders")
    members = sorted(_read_members(path, limits), key=lambda m: (m.split, m.label, m.name))
    classes = tuple(sorted({m.label for m in members}))
    if len(classes) < 2:
        raise BadInputError(f"the archive has only one class ({classes[0]!r}); a classifier needs at least two")
    train = [m for m in members if m.split != "test"]
    test = [m for m in members if m.split == "test"]
    if not train:
        raise BadInputError("the archive has a test/ folder but no training images")
    name = path.name
    return ImageFolderData(_tensors(_limit(train, limit_per_class), classes, name, limits),
                           _tensors(_limit(test, test_limit_per_class), classes, name, limits) if test else None,
                           classes)


def _looks_like_tar(path: Path) -> bool:
    """gzip magic or a plain tar header; anything else is refused before parsing."""
    with open(path, "rb") as f:
        head = f.read(512)
    return head[:2] == b"\x1f\x8b" or head[257:262] == b"ustar"
