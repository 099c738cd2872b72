"""The model registry: one entry (ModelInfo) per architecture, with its layers, teaching note and weights spec,
looked up by name."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import torch.nn as nn

from .. import catalog
from .weights import WeightsSpec


@dataclass(frozen=True, init=False)
class ModelInfo:
    """Everything the UI, explainer and trainer know about one registered architecture.

    Classes, normalisation, input size and data set live in `weights` (one home); the properties below read them.
    """

    name: str
    family: str
    builder: Callable[..., nn.Module] = field(repr=False, compare=False)
    weights: WeightsSpec
    cam_layer: str
    feature_layers: tuple[str, ...]
    head_layer: str  # the final nn.Linear (or 1x1 conv) that a fine-tune replaces
    note: str
    torchvision_name: str | None = None  # the torchvision builder this is a twin of

    def __init__(self, name: str, family: str, builder: Callable[..., nn.Module], cam_layer: str,
                 feature_layers: tuple[str, ...], head_layer: str, note: str, weights: WeightsSpec | None = None,
                 torchvision_name: str | None = None, **data) -> None:
        """data (input_size, classes, mean, std, dataset) overrides the spec's values, or without a spec makes
        an untrained one (the flat form tests and trained runs use)."""
        spec = replace(weights, **data) if weights is not None else _flat_spec(**data)
        spec = spec if spec.model else replace(spec, model=name)
        values = dict(name=name, family=family, builder=builder, weights=spec, cam_layer=cam_layer,
                      feature_layers=tuple(feature_layers), head_layer=head_layer, note=note,
                      torchvision_name=torchvision_name)
        for key, value in values.items():
            object.__setattr__(self, key, value)  # frozen: set once here

    @property
    def input_size(self) -> tuple[int, int, int]:
        """(channels, height, width) the model is fed."""
        return self.weights.input_size

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names of the registered head."""
        return self.weights.classes

    @property
    def mean(self) -> tuple[float, ...]:
        """Per-channel normalisation mean."""
        return self.weights.mean

    @property
    def std(self) -> tuple[float, ...]:
        """Per-channel normalisation standard deviation."""
        return self.weights.std

    @property
    def dataset(self) -> str:
        """The data set the model is meant for ("imagenet", "cifar10", "mnist", "fashion_mnist", an archive)."""
        return self.weights.dataset

    @property
    def channels(self) -> int:
        """Number of input channels the model takes."""
        return self.input_size[0]

    @property
    def num_classes(self) -> int:
        """Number of output classes of the registered form."""
        return len(self.classes)


def _flat_spec(*, dataset: str, **fields) -> WeightsSpec:
    """An untrained spec from flat fields, preprocessed as its data set's convention says when it is known."""
    known = catalog.DATASETS.get(dataset)
    return WeightsSpec.of(known, **fields) if known else WeightsSpec(dataset=dataset, **fields)


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


def has_weights(name: str) -> bool:
    """True if the registered model's pretrained weights can be loaded right now without network."""
    return model_info(name).weights.is_here()


def weights_status(name: str) -> str:
    """One line for the UI saying where this model's weights come from and whether they are here."""
    return model_info(name).weights.status()
