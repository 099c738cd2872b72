"""The model registry: one entry per architecture, each with the metadata the app and trainer need."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # per-channel statistics of the CIFAR-10 training set
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")



def _imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names from torchvision's weights metadata (in its code: no download)."""
    from torchvision.models import ResNet18_Weights
    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


IMAGENET_CLASSES = _imagenet_classes()


@dataclass(frozen=True)
class ModelInfo:
    """Everything the UI, explainer and trainer know about one registered architecture."""

    name: str
    family: str
    builder: Callable[..., nn.Module] = field(repr=False, compare=False)
    input_size: tuple[int, int, int]  # (channels, height, width)
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dataset: str  # "imagenet", "cifar10", "mnist", "fashion_mnist"
    cam_layer: str
    feature_layers: tuple[str, ...]
    head_layer: str  # the final nn.Linear (or 1x1 conv) that a fine-tune replaces
    note: str
    pretrained: str | None = None  # "torchvision", "package", "checkpoint" or None
    torchvision_name: str | None = None  # the torchvision builder this is a twin of

    @property
    def channels(self) -> int:
        """Number of input channels the model takes."""
        return self.input_size[0]

    @property
    def num_classes(self) -> int:
        """Number of output classes of the registered form."""
        return len(self.classes)


_REGISTRY: dict[str, ModelInfo] = {}


def register(**meta) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a builder under meta['name']; duplicate names are refused."""
    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = meta["name"]
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelInfo(builder=builder, **meta)
        return builder
    return wrap


def list_models(dataset: str | None = None) -> list[str]:
    """Names of the registered models, optionally only those meant for one data set."""
    return sorted(n for n, i in _REGISTRY.items() if dataset in (None, i.dataset))


def model_info(name: str) -> ModelInfo:
    """The metadata of a registered model; unknown names raise ValueError listing the valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}") from None
