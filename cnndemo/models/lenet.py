"""LeNet-5 (seed 000): two conv+pool stages and three fully connected layers."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..catalog import CIFAR10, FASHION_MNIST, MNIST
from .registry import register
from .weights import SHIPPED, WeightsSpec

_NOTE = ("LeNet stacks convolution, pooling and fully connected layers: each 5x5 filter is shared across "
         "the whole image (weight sharing), so the net learns local features with few parameters.")
_LAYOUT = dict(family="LeNet", cam_layer="cn2", feature_layers=("cn1", "cn2"), head_layer="fc3",
               note=_NOTE)


class LeNet(nn.Module):
    """The seed's LeNet-5; attribute names and printout match the seed exactly."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, padding: int = 0) -> None:
        super().__init__()
        # padding=2 lets a 28x28 input reach the same 5x5 map (and 400 features) as a 32x32 one
        self.cn1 = nn.Conv2d(in_channels, 6, 5, padding=padding)
        self.cn2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of images."""
        # functional relu/pool as in the seed, so print(model) shows only the five layers
        x = F.max_pool2d(F.relu(self.cn1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.cn2(x)), (2, 2))
        x = torch.flatten(x, 1)  # the seed's view(-1, n) would silently mix samples on a wrong input size
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


@register(name="lenet5", weights=WeightsSpec.of(CIFAR10, SHIPPED), **_LAYOUT)
def lenet5(*, num_classes: int = 10) -> LeNet:
    """LeNet-5 for 3x32x32 CIFAR-10 images, as in the seed (62,006 parameters)."""
    return LeNet(3, num_classes)


@register(name="lenet5_mnist", weights=WeightsSpec.of(MNIST, SHIPPED), **_LAYOUT)
def lenet5_mnist(*, num_classes: int = 10) -> LeNet:
    """LeNet-5 for 1x28x28 MNIST digits (first conv padded by 2)."""
    return LeNet(1, num_classes, padding=2)


@register(name="lenet5_fashion", weights=WeightsSpec.of(FASHION_MNIST, SHIPPED), **_LAYOUT)
def lenet5_fashion(*, num_classes: int = 10) -> LeNet:
    """LeNet-5 for 1x28x28 Fashion-MNIST clothes (first conv padded by 2)."""
    return LeNet(1, num_classes, padding=2)
