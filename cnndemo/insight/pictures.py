"""The pictures a view of what a network has learnt runs over: a built-in data set (its test split), a class
builder's set, or an uploaded archive read by the safe archive loader, as uint8 tensors with their classes."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from cnndemo.data import DATASETS, ClassSet, TensorData, load_dataset, load_image_folder_archive
from cnndemo.errors import BadInputError

Source = str | os.PathLike | ClassSet | TensorData  # a data set name, an archive's path, a class set, tensors
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


@dataclass(frozen=True)
class Pictures:
    """Pictures and their labels, with a line that names them for a student."""

    data: TensorData
    label: str  # e.g. "cifar10 (test split): 2,000 of 10,000 pictures, spread over the 10 classes"


def source_key(source: Source, limit: int) -> tuple:
    """A key that changes whenever the pictures would (found without decoding them): a built-in name, an archive's
    path, size and time, or a hash of a class set's or a tensor's pictures."""
    if isinstance(source, ClassSet):
        digests = tuple((c, tuple(p.digest for p in source.pictures(c))) for c in source.classes)
        return "class set", _digest(repr(digests).encode()), limit
    if isinstance(source, TensorData):
        return "tensors", content_digest(source), limit
    if _is_archive(source):
        path = _archive_path(source)
        st = path.stat()
        return "archive", str(path.resolve()), st.st_size, st.st_mtime_ns, limit
    return "built-in", _builtin_name(source), limit


def load_pictures(source: Source, limit: int, minimum: int) -> Pictures:
    """At most limit pictures of source, spread over its classes; BadInputError with a sentence when it is
    missing, unreadable or has fewer than minimum pictures."""
    data, name = _load(source)
    if len(data) < minimum:
        raise BadInputError(f"{name} has {len(data)} picture{'s' * (len(data) != 1)}; this view needs at least "
                            f"{minimum}, so that the pictures it ranks are more than a handful")
    picked = spread(data, limit)
    part = f"all {len(data):,} pictures" if len(picked) == len(data) else (
        f"{len(picked):,} of {len(data):,} pictures, spread over the {len(data.classes)} classes")
    return Pictures(picked, f"{name}: {part}")


def _load(source: Source) -> tuple[TensorData, str]:
    """The pictures of source and how to name them."""
    if isinstance(source, ClassSet):
        return source.data(), f"the class set {source.name!r}"
    if isinstance(source, TensorData):
        return source, source.name or "the pictures given"
    if _is_archive(source):
        path = _archive_path(source)
        found = load_image_folder_archive(path)  # the safe loader: nothing is extracted to disk
        data = found.train if found.test is None else _joined(found.train, found.test)
        return data, f"the archive {path.name!r}"
    name = _builtin_name(source)
    return load_dataset(name, split="test"), f"{name} (test split)"


def spread(data: TensorData, n: int) -> TensorData:
    """The first n pictures taking the classes in turn (the first of each class, then the second, ...), in
    data-set order: a fixed subset with the classes as balanced as the data allow."""
    if len(data) <= n:
        return data
    rank = torch.empty_like(data.labels)
    for c in data.labels.unique():
        where = torch.nonzero(data.labels == c).flatten()
        rank[where] = torch.arange(len(where))
    order = torch.argsort(rank * len(data) + torch.arange(len(data)))
    return data.subset(order[:n].sort().values)


def content_digest(data: TensorData) -> str:
    """A hash of the pictures, their labels and class names."""
    h = hashlib.blake2b(repr((tuple(data.images.shape), data.classes)).encode(), digest_size=16)
    h.update(data.images.contiguous().numpy().tobytes())
    h.update(data.labels.contiguous().numpy().tobytes())
    return h.hexdigest()


def _digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _joined(a: TensorData, b: TensorData) -> TensorData:
    """An archive's train/ and test/ pictures as one set (they share classes and picture size)."""
    return TensorData(torch.cat([a.images, b.images]), torch.cat([a.labels, b.labels]), a.classes, a.name)


def _is_archive(source: Source) -> bool:
    return isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(ARCHIVE_SUFFIXES)


def _archive_path(source: str | os.PathLike) -> Path:
    """The archive's path, or BadInputError when there is no file there."""
    path = Path(source)
    if not path.is_file():
        raise BadInputError(f"there is no archive at {path.name!r}; upload a .zip or .tar.gz of class folders")
    return path


def _builtin_name(source: object) -> str:
    """A built-in data set's name, or BadInputError naming the choices."""
    if not isinstance(source, str) or source not in DATASETS:
        raise BadInputError(f"unknown data set {source!r}: choose one of {', '.join(DATASETS)}, the class "
                            "builder's pictures, or upload a .zip or .tar.gz of class folders")
    return source
