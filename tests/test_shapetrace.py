"""Tests of cnndemo.learn.shapetrace: each step's formula gives the real size, receptive fields and jumps."""
from __future__ import annotations

import re

import torch

from cnndemo import learn, models


def test_receptive_field_and_jump_rows():
    with torch.device("meta"):  # shape-only tensors: structure, shapes and windows without arithmetic
        model = models.get_model("vgg16")
    rows = {r.layer: r for r in learn.shape_trace(learn.trace(model, torch.empty(1, 3, 224, 224, device="meta")))}
    assert (rows["features.28"].receptive_field, rows["features.28"].jump) == ("196", "16")
    assert (rows["features.30"].receptive_field, rows["features.30"].jump) == ("212", "32")
    assert rows["classifier.6"].receptive_field == "whole image"


def test_shape_trace_formulas_give_the_real_sizes():
    model, x = models.get_model("efficientnet_lite0"), torch.randn(1, 3, 224, 224)
    rows = learn.shape_trace(learn.trace(model, x))
    assert rows[0].formula == "out = (224 - 3 + 0 + 1)/2 + 1 = 112 (padding 0 before, 1 after)"
    for row in rows:
        numbers = re.findall(r"\+ 1 = (\d+)", row.formula)
        if numbers:
            assert int(numbers[-1]) == int(row.output.split("x")[-1]), row
    lenet = learn.shape_trace(learn.trace(models.get_model("lenet5"), torch.randn(1, 3, 32, 32)))
    assert [r.formula for r in lenet[:3]] == ["out = (32 - 5 + 2*0)/1 + 1 = 28", "keeps the shape",
                                              "out = (28 - 2 + 2*0)/2 + 1 = 14"]
    assert lenet[6].formula == "flatten: 16 x 5 x 5 = 400 values"
