"""GoogLeNet (seeds 000, 002): Inception modules, 1x1 reductions, global average pooling, auxiliary heads."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.googlenet import GoogLeNetOutputs

from ..catalog import CIFAR10, IMAGENET
from .registry import register
from .weights import SHIPPED, TorchvisionWeights, WeightsSpec


_NOTE = ("GoogLeNet's Inception module runs 1x1, 3x3, 5x5 and pooling branches in parallel; 1x1 convolutions "
         "shrink the channels first, cutting parameters. Global average pooling replaces big fully connected "
         "layers, and auxiliary classifiers add gradient to the middle of the net during training only.")


def _outputs(model: nn.Module, logits: torch.Tensor, aux2: torch.Tensor | None,
             aux1: torch.Tensor | None) -> torch.Tensor | GoogLeNetOutputs:
    """torchvision's convention: (logits, aux2, aux1) while training with aux heads, else plain logits."""
    if model.training and model.aux_logits:
        return GoogLeNetOutputs(logits, aux2, aux1)
    return logits


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm, ReLU (torchvision's key names: conv, bn)."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU()  # a module (no weights, so keys are unchanged) that hooks and captum can see

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv -> bn -> relu."""
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """torchvision's Inception block: four branches concatenated along channels."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        # the paper's 5x5 branch; torchvision (and its pretrained weights) use a 3x3 kernel here, so we keep it
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate the four branch outputs."""
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: pool to 4x4, 1x1 conv to 128 channels, two linear layers."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Auxiliary class logits from an intermediate feature map."""
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))
        x = self.dropout(self.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """Drop-in twin of torchvision.models.GoogLeNet(aux_logits=True)."""

    aux_heads = ("aux1.fc2", "aux2.fc2")  # linear layers that a head swap must resize too

    def __init__(self, num_classes: int = 1000, transform_input: bool = False, dropout: float = 0.2) -> None:
        super().__init__()
        self.aux_logits = True
        self.transform_input = transform_input  # True after torchvision's weights load (see use_transform_input)
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.aux1 = InceptionAux(512, num_classes)
        self.aux2 = InceptionAux(528, num_classes)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        self._initialize_weights()

    def _initialize_weights(self) -> None:
        """torchvision's init_weights=True: truncated normal (std 0.01) weights, unit batch norm."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _transform_input(self, x: torch.Tensor) -> torch.Tensor:
        """Re-normalise ImageNet-normalised input to the (x - 0.5) / 0.5 range the ported weights expect."""
        if not self.transform_input:
            return x
        mean = torch.tensor(IMAGENET.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return x * (std / 0.5) + (mean - 0.5) / 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        """Logits in eval mode; (logits, aux2, aux1) in training mode."""
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(self._transform_input(x))))))
        x = self.inception4a(self.maxpool3(self.inception3b(self.inception3a(x))))
        aux1 = self.aux1(x) if self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.avgpool(self.inception5b(self.inception5a(x)))
        return _outputs(self, self.fc(self.dropout(torch.flatten(x, 1))), aux2, aux1)


class InceptionModule(nn.Module):
    """Seed 000's Inception module: 1x1, 1x1->3x3, 1x1->3x3->3x3 (a cheap 5x5) and pool->1x1 branches."""

    def __init__(self, input_planes: int, n_channels1x1: int, n_channels3x3red: int, n_channels3x3: int,
                 n_channels5x5red: int, n_channels5x5: int, pooling_planes: int) -> None:
        super().__init__()
        self.block1 = _conv_bn_relu(input_planes, n_channels1x1, 1)
        self.block2 = nn.Sequential(*_conv_bn_relu(input_planes, n_channels3x3red, 1),
                                    *_conv_bn_relu(n_channels3x3red, n_channels3x3, 3))
        self.block3 = nn.Sequential(*_conv_bn_relu(input_planes, n_channels5x5red, 1),
                                    *_conv_bn_relu(n_channels5x5red, n_channels5x5, 3),
                                    *_conv_bn_relu(n_channels5x5, n_channels5x5, 3))
        self.block4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                    *_conv_bn_relu(input_planes, pooling_planes, 1))

    def forward(self, ip: torch.Tensor) -> torch.Tensor:
        """Concatenate the four branch outputs."""
        return torch.cat([self.block1(ip), self.block2(ip), self.block3(ip), self.block4(ip)], 1)


def _conv_bn_relu(in_planes: int, out_planes: int, kernel: int) -> nn.Sequential:
    """Conv (size-preserving padding), batch norm, non-inplace ReLU."""
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, kernel_size=kernel, padding=kernel // 2),
                         nn.BatchNorm2d(out_planes), nn.ReLU())


class GoogLeNetCifar(nn.Module):
    """Seed 000's GoogLeNet for 3x32x32 images: 3x3 stem, nine Inception modules, GAP, aux heads in training."""

    aux_heads = ("aux1.fc2", "aux2.fc2")

    def __init__(self, num_classes: int = 10, dropout: float = 0.2) -> None:
        super().__init__()
        self.aux_logits = True
        self.stem = _conv_bn_relu(3, 192, 3)
        self.a3 = InceptionModule(192, 64, 96, 128, 16, 32, 32)
        self.b3 = InceptionModule(256, 128, 128, 192, 32, 96, 64)
        self.max_pool1 = nn.MaxPool2d(3, stride=2, padding=1)  # 32 -> 16
        self.a4 = InceptionModule(480, 192, 96, 208, 16, 48, 64)
        self.b4 = InceptionModule(512, 160, 112, 224, 24, 64, 64)
        self.c4 = InceptionModule(512, 128, 128, 256, 24, 64, 64)
        self.d4 = InceptionModule(512, 112, 144, 288, 32, 64, 64)
        self.e4 = InceptionModule(528, 256, 160, 320, 32, 128, 128)
        self.max_pool2 = nn.MaxPool2d(3, stride=2, padding=1)  # 16 -> 8
        self.a5 = InceptionModule(832, 256, 160, 320, 32, 128, 128)
        self.b5 = InceptionModule(832, 384, 192, 384, 48, 128, 128)
        self.aux1 = InceptionAux(512, num_classes)
        self.aux2 = InceptionAux(528, num_classes)
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # global average pooling: 1024x8x8 -> 1024
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)  # the seed's Linear(4096, 1000) matched neither shape nor task

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        """Logits in eval mode; (logits, aux2, aux1) in training mode."""
        x = self.a4(self.max_pool1(self.b3(self.a3(self.stem(x)))))
        aux1 = self.aux1(x) if self.training else None
        x = self.d4(self.c4(self.b4(x)))
        aux2 = self.aux2(x) if self.training else None
        x = self.b5(self.a5(self.max_pool2(self.e4(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return _outputs(self, self.fc(self.dropout(x)), aux2, aux1)


def use_transform_input(model: GoogLeNet) -> None:
    """torchvision's GoogLeNet weights were ported from another framework and expect its input re-normalisation."""
    model.transform_input = True


@register(name="googlenet", family="GoogLeNet", cam_layer="inception5b",
          weights=WeightsSpec.of(IMAGENET, TorchvisionWeights("googlenet"), after_load=use_transform_input),
          feature_layers=("conv1", "conv3", "inception3b", "inception4e", "inception5b"), head_layer="fc",
          note=_NOTE, torchvision_name="googlenet")
def googlenet(*, num_classes: int = 1000) -> GoogLeNet:
    """GoogLeNet for 3x224x224 ImageNet images, a twin of torchvision's."""
    return GoogLeNet(num_classes)


@register(name="googlenet_cifar", family="GoogLeNet", weights=WeightsSpec.of(CIFAR10, SHIPPED), cam_layer="b5",
          feature_layers=("stem", "b3", "a4", "e4", "b5"), head_layer="fc", note=_NOTE)
def googlenet_cifar(*, num_classes: int = 10) -> GoogLeNetCifar:
    """GoogLeNet for 3x32x32 CIFAR-10 images, as seed 000 meant it."""
    return GoogLeNetCifar(num_classes)
