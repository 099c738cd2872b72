"""Tests of cnndemo.train.caveats: the Wilson interval of a small test set, and the warnings a run shows."""
from __future__ import annotations

import math

import pytest
import torch

from cnndemo.data import DataSettings, Splits, TensorData, load_splits
from cnndemo.train import MIN_TEST_IMAGES, run_warnings, wilson_interval


def test_a_small_test_set_and_colour_on_a_grey_model_are_said():
    small = load_splits("shapes", DataSettings(limit_per_class=60, test_limit_per_class=2))  # 10 test pictures
    warnings = run_warnings("lenet5_mnist", small)
    assert len(warnings) == 2
    assert "Only 10 test pictures" in warnings[0] and str(MIN_TEST_IMAGES) in warnings[0]
    assert "in colour but lenet5_mnist reads grey 28x28" in warnings[1]
    assert run_warnings("lenet5", small) == warnings[:1]
    enough = load_splits("shapes", DataSettings(limit_per_class=60, test_limit_per_class=4)).test
    grey = Splits(*(TensorData(d.images.float().mean(1, keepdim=True).expand(-1, 3, -1, -1).to(torch.uint8),
                               d.labels, d.classes) for d in (small.train, enough)))
    assert run_warnings("lenet5_mnist", grey) == []  # grey pictures in three channels are not colour


def test_wilson_interval_is_scipys_and_sane_at_the_edges():
    z = 1.959963984540054
    for k, n in ((6, 6), (0, 10), (45, 50), (3, 7)):
        p = k / n
        centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        lo, hi = wilson_interval(k, n)
        assert lo == pytest.approx(max(0.0, centre - half / (1 + z * z / n)), abs=1e-9)
        assert hi == pytest.approx(min(1.0, centre + half / (1 + z * z / n)), abs=1e-9)
        assert lo <= p <= hi
    assert wilson_interval(6, 6)[0] < 0.62  # "100 %" on 6 pictures: could be 61 %
    assert wilson_interval(0, 0) == (0.0, 1.0)
