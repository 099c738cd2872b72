"""Shapes: the built-in data set drawn by code loads with no data folder, is the same everywhere, and trains."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cnndemo.data import DATASETS, SHAPES, DataSettings, load_splits
from cnndemo.data import shapes
from cnndemo.train import SHAPES_RECIPE, train


@pytest.fixture
def no_data_folder(tmp_path, monkeypatch):
    """A data root with nothing in it, as on a fresh offline machine."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("CNNDEMO_DATA", str(empty))
    return empty


def test_shapes_is_a_builtin_that_needs_no_data_folder(no_data_folder):
    assert SHAPES == "shapes" and SHAPES in DATASETS
    s = load_splits("shapes", DataSettings(download=False))
    assert s.classes == shapes.CLASSES and len(s.classes) >= 3
    assert tuple(s.train.images.shape) == (shapes.TRAIN_PER_CLASS * len(s.classes), 3, 32, 32)
    assert s.train.images.dtype == torch.uint8 and len(s.test) == shapes.TEST_PER_CLASS * len(s.classes)
    assert torch.bincount(s.test.labels).tolist() == [shapes.TEST_PER_CLASS] * len(s.classes)
    assert not any(no_data_folder.iterdir())  # nothing downloaded or written


def test_shapes_are_drawn_the_same_every_time_and_test_is_not_train():
    first = load_splits("shapes")
    shapes._drawn.cache_clear()
    again = load_splits("shapes")
    assert torch.equal(first.train.images, again.train.images) and torch.equal(first.test.labels, again.test.labels)
    train_set = {im.numpy().tobytes() for im in first.train.images}
    assert not any(im.numpy().tobytes() in train_set for im in first.test.images)


def test_subsets_keep_every_class():
    s = load_splits("shapes", DataSettings(limit_per_class=7, test_limit_per_class=3))
    assert torch.bincount(s.train.labels).tolist() == [7] * len(shapes.CLASSES)
    assert torch.bincount(s.test.labels).tolist() == [3] * len(shapes.CLASSES)


def test_shape_and_background_differ_in_grey_level():
    """Grey models see the shape too: the picture's corner (always background) and its brightest or darkest
    pixel differ by about MIN_CONTRAST grey levels."""
    rng = np.random.default_rng(5)
    for kind in shapes.CLASSES:
        for _ in range(20):
            grey = shapes.draw(kind, rng).astype(float) @ np.array([0.299, 0.587, 0.114])
            assert np.abs(grey - grey[0, 0]).max() >= shapes.MIN_CONTRAST * 0.9


def test_a_short_run_on_shapes_learns_offline(tmp_path, no_data_folder):
    cfg = replace(SHAPES_RECIPE, epochs=6, batch_size=32, limit_per_class=300, test_limit_per_class=40,
                  out=str(tmp_path / "s"), log_every=100)
    done = list(train(cfg))[-1]
    assert done.reason == "completed"
    assert done.metrics["test_acc"] > 2 / len(shapes.CLASSES)  # well above the 20 % of chance


@pytest.mark.slow
def test_the_train_tab_defaults_reach_90_percent_offline(tmp_path, no_data_folder):
    done = list(train(replace(SHAPES_RECIPE, out=str(tmp_path / "s"), log_every=1000)))[-1]
    assert done.metrics["test_acc"] >= 0.9 and done.n_test == 1000
