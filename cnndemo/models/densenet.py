"""DenseNet-121/169/201/161 (seed 000): dense blocks of concatenated layers joined by transition blocks.

The ImageNet forms are drop-in twins of torchvision's densenets (same state_dict keys and outputs),
without torchvision's memory-saving checkpointing; the CIFAR forms use a 3x3 stem and no max-pool.
"""
from __future__ import annotations

import re
from collections import OrderedDict

import torch
import torch.nn as nn

from ..catalog import CIFAR10, IMAGENET
from .registry import register
from .weights import SHIPPED, TorchvisionWeights, WeightsSpec

NOTE = ("Dense connectivity: every layer receives the concatenation of all earlier feature maps in its block and "
        "adds only growth-rate k new maps (BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k), so features are "
        "reused instead of relearned; transition layers (1x1 conv + 2x2 average pool) halve channels and size.")


class DenseLayer(nn.Module):
    """The seed's 'DenseBlock': BN-ReLU-1x1 conv (4k) then BN-ReLU-3x3 conv (k), concatenated to its input."""

    def __init__(self, in_planes: int, growth_rate: int, bn_size: int = 4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_planes, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input maps followed by the k new ones (torchvision's channel order)."""
        new = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
        return torch.cat([x, new], 1)


class DenseBlock(nn.Sequential):
    """num_layers dense layers; layer i sees in_planes + i * growth_rate channels."""

    def __init__(self, num_layers: int, in_planes: int, growth_rate: int, bn_size: int = 4):
        super().__init__(OrderedDict(
            (f"denselayer{i + 1}", DenseLayer(in_planes + i * growth_rate, growth_rate, bn_size))
            for i in range(num_layers)))


class TransBlock(nn.Sequential):
    """Transition between dense blocks: BN-ReLU-1x1 conv (fewer channels) then 2x2 average pooling."""

    def __init__(self, in_planes: int, out_planes: int):
        super().__init__(OrderedDict(norm=nn.BatchNorm2d(in_planes), relu=nn.ReLU(),
                                     conv=nn.Conv2d(in_planes, out_planes, 1, bias=False),
                                     pool=nn.AvgPool2d(2, stride=2)))


def _stem(init_planes: int, cifar_stem: bool) -> OrderedDict[str, nn.Module]:
    """ImageNet stem (7x7/2 conv + 3x3/2 max-pool) or the CIFAR stem (3x3/1 conv, no pooling)."""
    if cifar_stem:
        return OrderedDict(conv0=nn.Conv2d(3, init_planes, 3, padding=1, bias=False),
                           norm0=nn.BatchNorm2d(init_planes), relu0=nn.ReLU())
    return OrderedDict(conv0=nn.Conv2d(3, init_planes, 7, stride=2, padding=3, bias=False),
                       norm0=nn.BatchNorm2d(init_planes), relu0=nn.ReLU(),
                       pool0=nn.MaxPool2d(3, stride=2, padding=1))


class DenseNet(nn.Module):
    """Stem, four dense blocks with transitions between them, final BN-ReLU, global average pooling, classifier."""

    def __init__(self, growth_rate: int, block_config: tuple[int, ...], init_planes: int,
                 num_classes: int = 1000, cifar_stem: bool = False, bn_size: int = 4):
        super().__init__()
        self.features = nn.Sequential(_stem(init_planes, cifar_stem))
        planes = init_planes
        for i, num_layers in enumerate(block_config, start=1):
            self.features.add_module(f"denseblock{i}", DenseBlock(num_layers, planes, growth_rate, bn_size))
            planes += num_layers * growth_rate
            if i < len(block_config):
                self.features.add_module(f"transition{i}", TransBlock(planes, planes // 2))
                planes //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(planes))
        # torchvision applies this ReLU functionally; as a module it is visible to hooks and has no weights
        self.features.add_module("relu5", nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(planes, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """He initialisation for convs, BN to identity, zero classifier bias (torchvision's scheme)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of images."""
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# name: (growth rate k, layers per dense block, stem channels), as in the DenseNet paper / torchvision
_CONFIGS = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
}
_COMMON = dict(family="DenseNet", cam_layer="features",
               feature_layers=("features.denseblock1", "features.denseblock2", "features.denseblock3",
                               "features.denseblock4"),
               head_layer="classifier")
_CIFAR = dict(_COMMON, weights=WeightsSpec.of(CIFAR10, SHIPPED))
# torchvision's DenseNet files predate the module names: "denselayer1.norm.1.weight" -> "denselayer1.norm1.weight"
_OLD_KEY = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.")
_CIFAR_NOTE = " CIFAR-10 form: 3x3 stride-1 stem conv and no max-pool for 32x32 images."


def remap_old_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename torchvision's old DenseNet keys ('norm.1') to the module names ('norm1'); others pass through."""
    return {_OLD_KEY.sub(r"\1\2.", k): v for k, v in state.items()}


def _imagenet(name: str) -> dict:
    """Registry fields of an ImageNet form: a torchvision twin with its weights (old key names remapped)."""
    weights = WeightsSpec.of(IMAGENET, TorchvisionWeights(name), state_hook=remap_old_keys)
    return dict(_COMMON, torchvision_name=name, weights=weights)


def _note(name: str) -> str:
    """The teaching note with this variant's growth rate and block sizes."""
    k, blocks, _ = _CONFIGS[name]
    return f"{NOTE} {name}: k={k}, dense blocks of {'-'.join(map(str, blocks))} layers."


@register(name="densenet121", note=_note("densenet121"), **_imagenet("densenet121"))
def densenet121(num_classes: int = 1000) -> DenseNet:
    """DenseNet-121, ImageNet stem."""
    return DenseNet(*_CONFIGS["densenet121"], num_classes=num_classes)


@register(name="densenet169", note=_note("densenet169"), **_imagenet("densenet169"))
def densenet169(num_classes: int = 1000) -> DenseNet:
    """DenseNet-169, ImageNet stem."""
    return DenseNet(*_CONFIGS["densenet169"], num_classes=num_classes)


@register(name="densenet201", note=_note("densenet201"), **_imagenet("densenet201"))
def densenet201(num_classes: int = 1000) -> DenseNet:
    """DenseNet-201, ImageNet stem."""
    return DenseNet(*_CONFIGS["densenet201"], num_classes=num_classes)


@register(name="densenet161", note=_note("densenet161"), **_imagenet("densenet161"))
def densenet161(num_classes: int = 1000) -> DenseNet:
    """DenseNet-161 (growth rate 48), ImageNet stem."""
    return DenseNet(*_CONFIGS["densenet161"], num_classes=num_classes)


@register(name="densenet121_cifar", note=_note("densenet121") + _CIFAR_NOTE, **_CIFAR)
def densenet121_cifar(num_classes: int = 10) -> DenseNet:
    """DenseNet-121 with the CIFAR stem, for 3x32x32 images."""
    return DenseNet(*_CONFIGS["densenet121"], num_classes=num_classes, cifar_stem=True)


@register(name="densenet169_cifar", note=_note("densenet169") + _CIFAR_NOTE, **_CIFAR)
def densenet169_cifar(num_classes: int = 10) -> DenseNet:
    """DenseNet-169 with the CIFAR stem, for 3x32x32 images."""
    return DenseNet(*_CONFIGS["densenet169"], num_classes=num_classes, cifar_stem=True)


@register(name="densenet201_cifar", note=_note("densenet201") + _CIFAR_NOTE, **_CIFAR)
def densenet201_cifar(num_classes: int = 10) -> DenseNet:
    """DenseNet-201 with the CIFAR stem, for 3x32x32 images."""
    return DenseNet(*_CONFIGS["densenet201"], num_classes=num_classes, cifar_stem=True)


@register(name="densenet161_cifar", note=_note("densenet161") + _CIFAR_NOTE, **_CIFAR)
def densenet161_cifar(num_classes: int = 10) -> DenseNet:
    """DenseNet-161 with the CIFAR stem, for 3x32x32 images."""
    return DenseNet(*_CONFIGS["densenet161"], num_classes=num_classes, cifar_stem=True)
