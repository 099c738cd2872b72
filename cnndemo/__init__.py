"""cnndemo: a CNN explorer - model zoo, explanations, data and training loops (no UI code here).

Glossary: the "seed" documents. The project grew from four Korean course notes and blog posts on CNNs in PyTorch
(kept beside the repository in ../shared/seeds, not shipped). Code, tests and the README cite them by number,
e.g. "seed 003's 3x3 stem" or "the seed's formula" (out = (in - k + 2p)/s + 1); there is no seed 001.

- seed 000: "CH3. 심층 CNN 아키텍쳐" (deep CNN architectures), a velog post of notes on a PyTorch book's chapter 3:
  LeNet-5 from scratch (its print(model) is tests/test_layertable.py's), fine-tuning AlexNet, GoogLeNet's
  Inception module (1x1 convolutions, global average pooling, auxiliary classifiers), ResNet and DenseNet.
- seed 002: "[데브코스] 11주차 - DeepLearning Many CNN models structure" (a bootcamp's week-11 notes): AlexNet
  with its torchsummary table at 3x256x256 (57,044,810 parameters for 10 classes), VGG after torchvision's code,
  global average pooling, ResNet.
- seed 003: "[Deeplearning] 파이토치로 알아보는 합성곱 신경망" (CNNs with PyTorch): convolution and pooling size
  arithmetic, an AlexNet for CIFAR-10 (75.08 %) and a ResNet-18 with a 3x3 stem and no max-pool (82.98 %).
- seed 004: "PytorchZeroToAll(3)", notes on Sung Kim's PyTorchZeroToAll lecture on CNNs: a two-convolution MNIST
  net (fc 320 -> 10) and an InceptionA network (fc 1408 -> 10).
"""
from __future__ import annotations

from .errors import BadInputError, WeightsUnavailableError
from .layertable import summary

__version__ = "0.1.0"
__all__ = ["BadInputError", "WeightsUnavailableError", "summary", "__version__"]
