"""Built-in data sets (MNIST, Fashion-MNIST, CIFAR-10, and shapes drawn by code) and user archives, loaded once
into uint8 tensors."""
from __future__ import annotations

import functools
import hashlib
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from .. import catalog
from ..catalog import BUILTIN
from ..errors import BadInputError
from . import shapes
from .archive import ArchiveLimits, load_image_folder_archive
from .tensors import TensorData, per_class_subset, split_holdout

OFFLINE = (shapes.NAME,)  # drawn by code: no download and no data folder
DATASETS = (*BUILTIN, *OFFLINE)  # every name load_splits takes besides an archive path
CIFAR_ARCHIVE = "cifar10-jpeg.tar.gz"
DOWNLOAD_TIMEOUT_S = 20.0


class DataUnavailableError(BadInputError):
    """A built-in data set that is neither in the data root nor downloadable from here."""


@dataclass(frozen=True)
class DataSettings:
    """Where data comes from and which part of it is used."""

    root: str | None = None  # None: see data_root()
    cache_dir: str | None = None  # decoded-tensor cache; None: ~/.cache/cnndemo/tensors or $CNNDEMO_CACHE
    limit_per_class: int | None = None  # a fixed subset (first n per class) of the training split
    test_limit_per_class: int | None = None
    holdout: float = 0.2  # share held out for testing when an archive has no test/ folder
    seed: int = 0
    download: bool = True


@dataclass(frozen=True)
class Splits:
    """Training and test data of one data set."""

    train: TensorData
    test: TensorData

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Explicit root > $CNNDEMO_DATA > ../shared/data beside the repository > ~/.cache/cnndemo/data."""
    if root:
        return Path(root).expanduser()
    if os.environ.get("CNNDEMO_DATA"):
        return Path(os.environ["CNNDEMO_DATA"]).expanduser()
    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    if shared.is_dir():
        return shared
    return Path.home() / ".cache" / "cnndemo" / "data"


def cache_dir(settings: DataSettings) -> Path:
    """Where decoded tensors are cached."""
    if settings.cache_dir:
        return Path(settings.cache_dir)
    env = os.environ.get("CNNDEMO_CACHE")
    return Path(env) / "tensors" if env else Path.home() / ".cache" / "cnndemo" / "tensors"


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Offline machines must fail fast, not hang on a download."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _torchvision(name: str, root: Path, train: bool, download: bool):
    """A torchvision data set from root, downloaded only if its files are missing."""
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
    try:
        return cls(root=str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise DataUnavailableError(_missing(name, root, "downloads are switched off")) from None
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            return cls(root=str(root), train=train, download=True)
    except Exception as e:  # noqa: BLE001 - any network or disk failure means the same to the user
        why = f"the download failed ({type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]})"
        raise DataUnavailableError(_missing(name, root, why)) from None


TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "cifar-10-batches-py"}


def is_local(name: str, root: str | os.PathLike | None = None) -> bool:
    """Whether a built-in data set can be read here without a download: drawn by code, or its files are in the
    data folder (torchvision's layout, or CIFAR-10 as the image-folder archive)."""
    if name == shapes.NAME:
        return True
    base = data_root(root)
    if name == "cifar10" and (base / CIFAR_ARCHIVE).is_file():
        return True
    folder = TORCHVISION_FOLDERS.get(name)
    return folder is not None and any(p.is_file() for p in (base / folder).rglob("*"))


def _missing(name: str, root: Path, why: str) -> str:
    """The message shown when a data set cannot be had."""
    return (f"{name} is not in the data folder {str(root)!r} and {why}. Put the files there "
            f"(torchvision layout), or point --data-root / CNNDEMO_DATA at a folder that has them.")


def _from_torchvision(name: str, root: Path, split: str, download: bool) -> TensorData:
    """uint8 (N, C, H, W) tensors from a torchvision data set, without per-sample decoding."""
    ds = _torchvision(name, root, split == "train", download)
    x = torch.as_tensor(ds.data)
    x = x[:, None] if x.dim() == 3 else x.permute(0, 3, 1, 2)  # MNIST is (N,H,W), CIFAR (N,H,W,C)
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    # the catalog's readable names (torchvision's MNIST names are '0 - zero' and so on)
    return TensorData(x.contiguous(), y, catalog.DATASETS[name].classes, name)


def _cache_key(path: Path, split: str, settings: DataSettings) -> str:
    """A file name that changes whenever the archive or the subset does."""
    st = path.stat()
    raw = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{settings.limit_per_class}|{settings.test_limit_per_class}"
    return f"{path.name.split('.')[0]}-{split}-{hashlib.sha256(raw.encode()).hexdigest()[:16]}.safetensors"


def _save_cache(path: Path, data: TensorData) -> None:
    """Write tensors + class names atomically (safetensors: no pickle)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    meta = {"classes": "\n".join(data.classes), "name": data.name}
    save_file({"images": data.images, "labels": data.labels}, str(tmp), metadata=meta)
    os.replace(tmp, path)


def _load_cache(path: Path) -> TensorData | None:
    """Cached tensors, or None when absent or unreadable."""
    from safetensors import safe_open

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            return TensorData(f.get_tensor("images"), f.get_tensor("labels"),
                              tuple(meta["classes"].split("\n")), meta["name"])
    except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, not fatal
        return None


def load_archive_splits(path: str | os.PathLike, settings: DataSettings = DataSettings(),
                        limits: ArchiveLimits = ArchiveLimits()) -> Splits:
    """Train/test tensors of an image-folder archive, decoded once and cached on disk."""
    path = Path(path)
    cdir = cache_dir(settings)
    if path.is_file():
        cached = [_load_cache(cdir / _cache_key(path, s, settings)) for s in ("train", "test")]
        if all(c is not None for c in cached):
            return Splits(*cached)
    data = load_image_folder_archive(path, limits, limit_per_class=settings.limit_per_class,
                                     test_limit_per_class=settings.test_limit_per_class)
    train, test = data.train, data.test
    if test is None:
        train, test = split_holdout(train, settings.holdout, settings.seed)
    for split, d in (("train", train), ("test", test)):
        try:
            _save_cache(cdir / _cache_key(path, split, settings), d)
        except OSError:
            pass  # a read-only cache only costs speed
    return Splits(train, test)


def _is_archive(name: str) -> bool:
    return name.lower().endswith((".zip", ".tar.gz", ".tgz", ".tar"))


def load_splits(dataset: str, settings: DataSettings = DataSettings()) -> Splits:
    """Train and test data of a built-in data set name or an image-folder archive path."""
    if _is_archive(dataset):
        return load_archive_splits(dataset, settings)
    train = load_dataset(dataset, settings.root, split="train", settings=settings)
    test = load_dataset(dataset, settings.root, split="test", settings=settings)
    return Splits(train, test)


def load_dataset(name: str, root: str | os.PathLike | None = None, split: str = "train",
                 settings: DataSettings = DataSettings()) -> TensorData:
    """One split of a built-in data set (DATASETS) as uint8 tensors (subset per settings)."""
    if name not in DATASETS:
        raise BadInputError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)} or an archive path")
    if split not in ("train", "test"):
        raise BadInputError(f"split must be 'train' or 'test', not {split!r}")
    limit = settings.limit_per_class if split == "train" else settings.test_limit_per_class
    if name == shapes.NAME:
        return per_class_subset(shapes.load(split), limit)
    base = data_root(root or settings.root)
    if name == "cifar10" and not (base / "cifar-10-batches-py").is_dir() and (base / CIFAR_ARCHIVE).is_file():
        s = load_archive_splits(base / CIFAR_ARCHIVE, settings)
        d = s.train if split == "train" else s.test
        return TensorData(d.images, d.labels, d.classes, "cifar10")
    return per_class_subset(_builtin_in_memory(name, str(base), split, settings.download), limit)


@functools.lru_cache(maxsize=6)
def _builtin_in_memory(name: str, base: str, split: str, download: bool) -> TensorData:
    """Kept in memory: the next run in the same process starts without reading the files again."""
    return _from_torchvision(name, Path(base), split, download)
