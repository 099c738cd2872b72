"""Tests of cnndemo.layertable against the seed documents' tables and printouts."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from cnndemo import models
from cnndemo.convmath import conv_params, linear_params
from cnndemo.layertable import Row, Summary, summary

# The seed's torchsummary table for AlexNet(10) at 3x256x256 (002: "Many CNN models structure").
SEED_ALEXNET = [
    ("Conv2d", [-1, 64, 63, 63], 23_296), ("ReLU", [-1, 64, 63, 63], 0), ("MaxPool2d", [-1, 64, 31, 31], 0),
    ("Conv2d", [-1, 192, 31, 31], 307_392), ("ReLU", [-1, 192, 31, 31], 0), ("MaxPool2d", [-1, 192, 15, 15], 0),
    ("Conv2d", [-1, 384, 15, 15], 663_936), ("ReLU", [-1, 384, 15, 15], 0),
    ("Conv2d", [-1, 256, 15, 15], 884_992), ("ReLU", [-1, 256, 15, 15], 0),
    ("Conv2d", [-1, 256, 15, 15], 590_080), ("ReLU", [-1, 256, 15, 15], 0), ("MaxPool2d", [-1, 256, 7, 7], 0),
    ("AdaptiveAvgPool2d", [-1, 256, 6, 6], 0), ("Dropout", [-1, 9216], 0), ("Linear", [-1, 4096], 37_752_832),
    ("ReLU", [-1, 4096], 0), ("Dropout", [-1, 4096], 0), ("Linear", [-1, 4096], 16_781_312),
    ("ReLU", [-1, 4096], 0), ("Linear", [-1, 10], 40_970),
]
SEED_ALEXNET_TAIL = """\
Total params: 57,044,810
Trainable params: 57,044,810
Non-trainable params: 0
----------------------------------------------------------------
Input size (MB): 0.75
Forward/backward pass size (MB): 10.96
Params size (MB): 217.61
Estimated Total Size (MB): 229.32
----------------------------------------------------------------"""

# The seed's print(lenet) (000: "CH3. 심층 CNN 아키텍쳐").
SEED_LENET = """\
LeNet(
  (cn1): Conv2d(3, 6, kernel_size=(5, 5), stride=(1, 1))
  (cn2): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1))
  (fc1): Linear(in_features=400, out_features=120, bias=True)
  (fc2): Linear(in_features=120, out_features=84, bias=True)
  (fc3): Linear(in_features=84, out_features=10, bias=True)
)"""


@pytest.fixture(scope="module")
def alexnet_summary() -> Summary:
    return summary(models.get_model("alexnet", num_classes=10), (3, 256, 256))


def test_seed_alexnet_rows(alexnet_summary):
    got = [(r.type, list(r.output_shape), r.params) for r in alexnet_summary.rows]
    assert got == SEED_ALEXNET


def test_seed_alexnet_totals(alexnet_summary):
    s = alexnet_summary
    assert s.total_params == s.trainable_params == 57_044_810
    assert [round(v, 2) for v in (s.input_mb, s.forward_backward_mb, s.params_mb, s.total_mb)] == \
        [0.75, 10.96, 217.61, 229.32]


def test_seed_alexnet_text_table(alexnet_summary):
    lines = alexnet_summary.to_text().splitlines()
    assert lines[1].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    assert lines[3] == "            Conv2d-1           [-1, 64, 63, 63]          23,296"
    assert lines[16] == "AdaptiveAvgPool2d-14            [-1, 256, 6, 6]               0"
    assert lines[23] == "           Linear-21                   [-1, 10]          40,970"
    assert "\n".join(lines[-9:]) == SEED_ALEXNET_TAIL


def test_alexnet_mult_adds_match_the_formula(alexnet_summary):
    conv1 = alexnet_summary.rows[0]
    assert conv1.name.endswith("0") and conv1.mult_adds == 11 * 11 * 3 * 64 * 63 * 63 + 64 * 63 * 63
    assert alexnet_summary.total_mult_adds == sum(r.mult_adds for r in alexnet_summary.rows)
    assert "Total mult-adds: " in alexnet_summary.to_text(mult_adds=True)


def test_seed_lenet_printout():
    assert str(models.get_model("lenet5")) == SEED_LENET


def test_seed_lenet_summary_by_name():
    s = summary("lenet5")
    assert [(r.name, r.params) for r in s.rows] == [
        ("cn1", 456), ("cn2", 2416), ("fc1", 48120), ("fc2", 10164), ("fc3", 850)]
    assert [r.output_shape for r in s.rows] == [(-1, 6, 28, 28), (-1, 16, 10, 10), (-1, 120), (-1, 84), (-1, 10)]
    assert s.total_params == 456 + 2416 + 48120 + 10164 + 850
    assert [r.params for r in s.rows] == [conv_params(5, 3, 6), conv_params(5, 6, 16), linear_params(400, 120),
                                          linear_params(120, 84), linear_params(84, 10)]


class _FcHead(nn.Module):
    """The seed's GoogLeNet-style head: flatten 1024x8x8 into one Linear without bias."""

    def __init__(self) -> None:
        super().__init__()
        self.fc0 = nn.Linear(1024 * 8 * 8, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc0(x.view(-1, 1024 * 8 * 8))


def test_seed_one_by_one_convolution_saving():
    fc = summary(_FcHead(), (1024, 8, 8))
    conv = summary(nn.Sequential(nn.Conv2d(1024, 10, kernel_size=1, stride=1, padding=0)), (1024, 8, 8))
    assert fc.rows == (Row("fc0", "Linear", (-1, 10), 655_360, 655_360),)
    assert [(r.type, r.output_shape, r.params) for r in conv.rows] == [("Conv2d", (-1, 10, 8, 8), 10_250)]
    assert linear_params(1024 * 8 * 8, 10, bias=False) == 655_360
    assert conv_params(1, 1024, 10) == 1 * 1 * 1024 * 10 + 10 == 10_250
    assert fc.total_params // conv.total_params == 63


def test_only_leaf_layers_and_shared_params_counted_once():
    shared = nn.Linear(4, 4)
    model = nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), shared, shared)
    s = summary(model, (3,))
    assert [r.type for r in s.rows] == ["Linear", "ReLU", "Linear", "Linear"]
    assert [r.name for r in s.rows] == ["0.0", "0.1", "1", "1"]
    assert s.total_params == 16 + 20


def test_frozen_params_and_mode_restored():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout())
    model[0].requires_grad_(False)
    model.train()
    s = summary(model, (1, 5, 5))
    assert s.total_params == 20 + 4 and s.trainable_params == 4
    assert "Non-trainable params: 20" in s.to_text()
    assert model.training and model[1].num_batches_tracked.item() == 0  # ran in eval mode, left as it was


def test_summary_of_model_object_needs_input_size():
    with pytest.raises(ValueError, match="input_size"):
        summary(nn.Linear(2, 2))


def test_package_level_summary_is_the_function_and_the_module_has_its_own_name():
    import cnndemo
    import cnndemo.layertable  # importing the module leaves the package's summary alone

    assert cnndemo.summary is cnndemo.layertable.summary

    assert cnndemo.summary(nn.Linear(2, 3), (2,)).total_params == 9
    assert cnndemo.summary(nn.Linear(2, 3), input_size=(2,)).total_params == 9


def test_summary_result_is_frozen():
    s = summary(nn.Linear(2, 3), (2,))
    with pytest.raises(AttributeError):
        s.total_params = 0  # type: ignore[misc]
