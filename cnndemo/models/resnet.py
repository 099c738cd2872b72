"""ResNet-18/34/50 (seeds 000 and 003): residual blocks with skip connections, ImageNet and CIFAR stems.

The ImageNet forms are drop-in twins of torchvision's resnet18/34/50 (same state_dict keys and outputs).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..catalog import CIFAR10, IMAGENET
from .registry import register
from .weights import SHIPPED, TorchvisionWeights, WeightsSpec


NOTE_BASIC = ("Skip connections (residual learning): each block adds its input to its output, so it only learns a "
              "correction F(x) and gradients flow straight back through very deep networks.")
NOTE_BOTTLENECK = ("Skip connections with Bottleneck blocks: a 1x1 conv shrinks the channels, a 3x3 conv works on "
                   "the thin tensor and a 1x1 conv widens it again, so 50 layers cost little more than 34.")


def _downsample(in_planes: int, out_planes: int, stride: int) -> nn.Sequential | None:
    """1x1 conv + BN that reshapes the skip path when the block changes size or width (else None)."""
    if stride == 1 and in_planes == out_planes:
        return None
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes))


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or 1x1 projection) skip connection: out = relu(F(x) + x)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(in_planes, planes * self.expansion, stride)
        self.relu2 = nn.ReLU()  # separate module: hooks (Grad-CAM, guided backprop) see each use once

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual branch plus skip path, then ReLU."""
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu2(out + skip)


class Bottleneck(nn.Module):
    """1x1 reduce - 3x3 - 1x1 expand (x4) with a skip connection; stride on the 3x3 as in torchvision."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        width = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(planes, width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.downsample = _downsample(in_planes, width, stride)
        self.relu3 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Bottleneck branch plus skip path, then ReLU."""
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(self.relu2(self.bn2(self.conv2(out)))))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu3(out + skip)


class ResNet(nn.Module):
    """Stem, four stages of residual blocks (64-128-256-512 planes), global average pooling, fc."""

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: tuple[int, int, int, int],
                 num_classes: int = 1000, cifar_stem: bool = False):
        super().__init__()
        self.in_planes = 64
        # CIFAR stem (seed 003): 3x3 stride-1 conv and no max-pool, so 32x32 images are not shrunk 4x at once
        self.conv1 = (nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False) if cifar_stem
                      else nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False))
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = None if cifar_stem else nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self._init_weights()

    def _make_layer(self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int,
                    stride: int) -> nn.Sequential:
        """One stage: the first block may downsample, the rest keep the size."""
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        """He initialisation for convs, BN to identity (torchvision's scheme)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of images."""
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


_COMMON = dict(family="ResNet", cam_layer="layer4", feature_layers=("layer1", "layer2", "layer3", "layer4"),
               head_layer="fc")
_CIFAR = dict(_COMMON, weights=WeightsSpec.of(CIFAR10, SHIPPED))


def _imagenet(name: str) -> dict:
    """Registry fields of an ImageNet form: a torchvision twin with its weights."""
    return dict(_COMMON, torchvision_name=name, weights=WeightsSpec.of(IMAGENET, TorchvisionWeights(name)))

_CIFAR_NOTE = " CIFAR-10 form (seed 003): 3x3 stride-1 stem conv and no max-pool for 32x32 images."


@register(name="resnet18", note=NOTE_BASIC, **_imagenet("resnet18"))
def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18 (BasicBlock x [2, 2, 2, 2]), ImageNet stem."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


@register(name="resnet34", note=NOTE_BASIC, **_imagenet("resnet34"))
def resnet34(num_classes: int = 1000) -> ResNet:
    """ResNet-34 (BasicBlock x [3, 4, 6, 3]), ImageNet stem."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes)


@register(name="resnet50", note=NOTE_BOTTLENECK, **_imagenet("resnet50"))
def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50 (Bottleneck x [3, 4, 6, 3]), ImageNet stem."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)


@register(name="resnet18_cifar", note=NOTE_BASIC + _CIFAR_NOTE, **_CIFAR)
def resnet18_cifar(num_classes: int = 10) -> ResNet:
    """ResNet-18 with the CIFAR stem, for 3x32x32 images."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, cifar_stem=True)


@register(name="resnet34_cifar", note=NOTE_BASIC + _CIFAR_NOTE, **_CIFAR)
def resnet34_cifar(num_classes: int = 10) -> ResNet:
    """ResNet-34 with the CIFAR stem, for 3x32x32 images."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, cifar_stem=True)


@register(name="resnet50_cifar", note=NOTE_BOTTLENECK + _CIFAR_NOTE, **_CIFAR)
def resnet50_cifar(num_classes: int = 10) -> ResNet:
    """ResNet-50 with the CIFAR stem, for 3x32x32 images."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, cifar_stem=True)
