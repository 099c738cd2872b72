"""Data set metadata, one home for each fact: class names, statistics, channels, image size, label for people.

Imports nothing else from cnndemo, so models/ and data/ can both read it without an import cycle.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    """What cnndemo knows about one data set."""

    name: str  # the key used in code, configs and checkpoint sidecars
    label: str  # how people write it
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per-channel statistics of the training set, on 0..1 pixels
    std: tuple[float, ...]
    channels: int
    image_size: tuple[int, int]  # (height, width) models are fed at; ImageNet photos vary, 224 is its standard
    # the standard evaluation preprocessing: resize the shorter side to image_size / crop_pct, then centre-crop;
    # None: the pictures are small and are resized whole
    crop_pct: float | None = None
    builtin: bool = False  # cnndemo can load it for training (through torchvision.datasets)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)


def _imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names from torchvision's weights metadata (in its code: no download)."""
    from torchvision.models import ResNet18_Weights
    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


IMAGENET = DatasetInfo("imagenet", "ImageNet", _imagenet_classes(), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                       3, (224, 224), crop_pct=224 / 256)
MNIST = DatasetInfo("mnist", "MNIST", tuple(str(d) for d in range(10)), (0.1307,), (0.3081,), 1, (28, 28),
                    builtin=True)
FASHION_MNIST = DatasetInfo("fashion_mnist", "Fashion-MNIST",
                            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
                            (0.2860,), (0.3530,), 1, (28, 28), builtin=True)
CIFAR10 = DatasetInfo("cifar10", "CIFAR-10",
                      ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
                      (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 3, (32, 32), builtin=True)

DATASETS: dict[str, DatasetInfo] = {d.name: d for d in (IMAGENET, MNIST, FASHION_MNIST, CIFAR10)}
BUILTIN: tuple[str, ...] = tuple(name for name, d in DATASETS.items() if d.builtin)


def dataset(name: str) -> DatasetInfo:
    """The metadata of a known data set; unknown names raise ValueError listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}") from None


def label(name: str) -> str:
    """How people write a data set's name; anything unknown (an archive's file name) is shown as it is."""
    known = DATASETS.get(name)
    return known.label if known else name
