"""AlexNet: torchvision's ImageNet form (seed 002) and the CIFAR-10 form of seed 003."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..catalog import CIFAR10, IMAGENET
from .registry import register
from .weights import SHIPPED, TorchvisionWeights, WeightsSpec


_NOTE = ("AlexNet showed that a big convolutional net trained on GPUs wins on ImageNet: ReLU activations "
         "train much faster than tanh, and dropout in the large fully connected layers fights overfitting.")


class AlexNet(nn.Module):
    """Drop-in twin of torchvision.models.AlexNet (same state_dict), with non-inplace ReLU modules."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        )
        # adaptive pooling makes the classifier accept any input size >= 63 px (e.g. the seed's 256x256)
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of 3xHxW images."""
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class AlexNetCifar(nn.Module):
    """Seed 003's AlexNet scaled down for 3x32x32 images (feature map 256x3x3)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3), nn.ReLU(), nn.MaxPool2d(2, 2),  # 32 -> 30 -> 15
            nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),  # 15 -> 7
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 1), nn.ReLU(), nn.MaxPool2d(2, 2),  # 7 -> 3
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(256 * 3 * 3, 1024), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(1024, 512), nn.ReLU(),
            nn.Linear(512, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of 3x32x32 images."""
        # flatten(x, 1), not the seed's view(-1, 2304), so a wrong input size fails instead of mixing samples
        return self.classifier(torch.flatten(self.features(x), 1))


# Grad-CAM reads the rectified output of the last convolution (features.11), before the last pooling.
_LAYERS = dict(cam_layer="features.11", feature_layers=("features.1", "features.4", "features.7",
                                                        "features.9", "features.11"), head_layer="classifier.6")


@register(name="alexnet", family="AlexNet", weights=WeightsSpec.of(IMAGENET, TorchvisionWeights("alexnet")),
          note=_NOTE, torchvision_name="alexnet", **_LAYERS)
def alexnet(*, num_classes: int = 1000) -> AlexNet:
    """AlexNet for 3x224x224 ImageNet images, a twin of torchvision's."""
    return AlexNet(num_classes)


@register(name="alexnet_cifar", family="AlexNet", weights=WeightsSpec.of(CIFAR10, SHIPPED), note=_NOTE, **_LAYERS)
def alexnet_cifar(*, num_classes: int = 10) -> AlexNetCifar:
    """AlexNet for 3x32x32 CIFAR-10 images, as in seed 003."""
    return AlexNetCifar(num_classes)
