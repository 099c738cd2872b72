"""The small MNIST CNN and the InceptionA network of seed 004 (PyTorchZeroToAll)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..catalog import MNIST
from .registry import register
from .weights import SHIPPED, WeightsSpec

_MNIST = dict(weights=WeightsSpec.of(MNIST, SHIPPED), head_layer="fc")

# Both seed nets end in F.log_softmax(x) without dim: that warns, and the trainer's CrossEntropyLoss
# applies log_softmax itself, so the log-probabilities would be normalised twice. We return logits.


class MnistCNN(nn.Module):
    """Two 5x5 convolutions, each followed by max-pool and ReLU, then one linear layer."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.mp = nn.MaxPool2d(2)  # one pooling module, used after both convolutions as in the seed
        self.relu1 = nn.ReLU()  # ReLU modules (not F.relu) so hooks and guided backprop see them
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(320, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of 1x28x28 images."""
        x = self.relu1(self.mp(self.conv1(x)))
        x = self.relu2(self.mp(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


class InceptionA(nn.Module):
    """Four parallel branches (1x1, 5x5, double 3x3, pool) concatenated to 88 channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_2 = nn.Conv2d(16, 24, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch3x3dbl_2 = nn.Conv2d(16, 24, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = nn.Conv2d(24, 24, kernel_size=3, padding=1)
        self.branch_pool = nn.Conv2d(in_channels, 24, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate the branch outputs along the channel axis: 16 + 24 + 24 + 24 = 88."""
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionNet(nn.Module):
    """The seed's 'Advanced CNN': conv, InceptionA, conv, InceptionA, linear (1408 features)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(88, 20, kernel_size=5)
        self.incept1 = InceptionA(in_channels=10)
        self.incept2 = InceptionA(in_channels=20)
        self.mp = nn.MaxPool2d(2)
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(1408, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of 1x28x28 images."""
        x = self.incept1(self.relu1(self.mp(self.conv1(x))))  # 10x12x12 -> 88x12x12
        x = self.incept2(self.relu2(self.mp(self.conv2(x))))  # 20x4x4 -> 88x4x4
        return self.fc(torch.flatten(x, 1))


@register(name="mnist_cnn", family="MNIST CNN", cam_layer="conv2",
          feature_layers=("conv1", "relu1", "conv2", "relu2"), **_MNIST,
          note="The smallest CNN that works: two 5x5 convolutions with max-pooling and one linear layer "
               "already reach about 99% on MNIST with a few thousand weights.")
def mnist_cnn(*, num_classes: int = 10) -> MnistCNN:
    """The two-convolution MNIST net of seed 004."""
    return MnistCNN(num_classes)


@register(name="mnist_inception", family="MNIST CNN", cam_layer="incept2",
          feature_layers=("conv1", "incept1", "conv2", "incept2"), **_MNIST,
          note="InceptionA runs 1x1, 5x5, double 3x3 and pooling branches side by side and concatenates "
               "them, so the next layer sees features at several scales at once.")
def mnist_inception(*, num_classes: int = 10) -> InceptionNet:
    """The InceptionA MNIST net of seed 004."""
    return InceptionNet(num_classes)
