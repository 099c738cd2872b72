"""VGG-11/13/16/19 (seed 002) from configuration lists, with and without batch norm, ImageNet and CIFAR heads."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ..catalog import CIFAR10, IMAGENET
from .registry import register
from .weights import SHIPPED, TorchvisionWeights, WeightsSpec

# numbers are 3x3 conv output channels, "M" a 2x2 max-pool that halves the image
CFGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
_DEPTH_CFG = {11: "A", 13: "B", 16: "D", 19: "E"}

_NOTE = ("VGG showed that depth matters: it uses only stacks of small 3x3 convolutions (two 3x3 layers see as "
         "far as one 5x5 with fewer weights and an extra ReLU), halving the image with max-pooling between stages.")


def make_layers(cfg: list[int | str], batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part of a VGG from a configuration list."""
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        conv = nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1)
        layers += [conv, nn.BatchNorm2d(int(v)), nn.ReLU()] if batch_norm else [conv, nn.ReLU()]
        in_channels = int(v)
    return nn.Sequential(*layers)


def stage_outputs(cfg: list[int | str], batch_norm: bool = False) -> tuple[str, ...]:
    """Names of the ReLU that ends each stage (the module just before every max-pool)."""
    names, index = [], 0
    for v in cfg:
        if v == "M":
            names.append(f"features.{index - 1}")
        index += 1 if v == "M" else (3 if batch_norm else 2)
    return tuple(names)


class VGG(nn.Module):
    """Twin of torchvision.models.VGG; small_head=True swaps in a 512->n head for 32x32 inputs."""

    def __init__(self, features: nn.Module, num_classes: int = 1000, small_head: bool = False,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        if small_head:  # 32x32 inputs leave 512x1x1 after five pools; 120M classifier weights would only overfit
            self.avgpool: nn.Module = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(512, num_classes))
        else:
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(4096, num_classes),
            )
        self._initialize_weights()

    def _initialize_weights(self) -> None:
        """torchvision's initialisation: He for convolutions, small normal for linear layers."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of images."""
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _vgg(depth: int, batch_norm: bool, cifar: bool) -> Callable[..., VGG]:
    """Build and register one VGG variant; returns its builder."""
    cfg = CFGS[_DEPTH_CFG[depth]]
    name = f"vgg{depth}{'_bn' if batch_norm else ''}{'_cifar' if cifar else ''}"
    stages = stage_outputs(cfg, batch_norm)

    def build(*, num_classes: int = 10 if cifar else 1000) -> VGG:
        return VGG(make_layers(cfg, batch_norm), num_classes, small_head=cifar)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"VGG-{depth}{' with batch norm' if batch_norm else ''} for {'CIFAR-10' if cifar else 'ImageNet'}."
    data = (dict(weights=WeightsSpec.of(CIFAR10, SHIPPED), head_layer="classifier.1") if cifar else
            dict(weights=WeightsSpec.of(IMAGENET, TorchvisionWeights(name)), head_layer="classifier.6",
                 torchvision_name=name))
    return register(name=name, family="VGG", cam_layer=stages[-1], feature_layers=stages, note=_NOTE, **data)(build)


vgg11 = _vgg(11, batch_norm=False, cifar=False)
vgg11_bn = _vgg(11, batch_norm=True, cifar=False)
vgg13 = _vgg(13, batch_norm=False, cifar=False)
vgg13_bn = _vgg(13, batch_norm=True, cifar=False)
vgg16 = _vgg(16, batch_norm=False, cifar=False)
vgg16_bn = _vgg(16, batch_norm=True, cifar=False)
vgg19 = _vgg(19, batch_norm=False, cifar=False)
vgg19_bn = _vgg(19, batch_norm=True, cifar=False)
vgg11_cifar = _vgg(11, batch_norm=False, cifar=True)
vgg11_bn_cifar = _vgg(11, batch_norm=True, cifar=True)
vgg13_cifar = _vgg(13, batch_norm=False, cifar=True)
vgg13_bn_cifar = _vgg(13, batch_norm=True, cifar=True)
vgg16_cifar = _vgg(16, batch_norm=False, cifar=True)
vgg16_bn_cifar = _vgg(16, batch_norm=True, cifar=True)
vgg19_cifar = _vgg(19, batch_norm=False, cifar=True)
vgg19_bn_cifar = _vgg(19, batch_norm=True, cifar=True)
