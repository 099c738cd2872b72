"""The shipped checkpoints are what their sidecars say: re-evaluated on a fixed 1,000-image test subset."""
from __future__ import annotations

from pathlib import Path

import pytest

from cnndemo import checkpoints
from cnndemo.models import get_model, model_info
from cnndemo.train import evaluate_checkpoint
from conftest import data_folder

SHIPPED = sorted((Path(__file__).resolve().parents[1] / "checkpoints").glob("*.safetensors"))
NEEDED_META = ("arch", "classes", "mean", "std", "input_size", "dataset", "recipe", "metrics", "created",
               "hardware", "training_time_s", "parameters", "mult_adds", "command")


def test_checkpoints_are_shipped():
    assert SHIPPED, "checkpoints/ holds no trained model"


def test_sizes_stay_within_budget():
    assert all(p.stat().st_size <= 30_000_000 for p in SHIPPED)
    assert sum(p.stat().st_size for p in SHIPPED) <= 100_000_000


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_sidecar_records_recipe_and_results(path):
    _, meta = checkpoints.load(path)
    assert all(k in meta for k in NEEDED_META), [k for k in NEEDED_META if k not in meta]
    assert meta["arch"] == path.stem and 0 < meta["metrics"]["subset_acc"] <= 1
    assert meta["command"].startswith("python -m cnndemo train")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_registry_loads_the_shipped_weights(path):
    model = get_model(path.stem, weights="default")
    assert sum(p.numel() for p in model.parameters()) == checkpoints.load(path)[1]["parameters"]


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_accuracy_matches_the_sidecar_on_the_fixed_subset(path):
    meta = checkpoints.load(path)[1]
    root = data_folder(meta["dataset"])  # never a download: the data are in the data folder or the test skips
    result = evaluate_checkpoint(path, meta["dataset"], data_root=str(root), limit_per_class=100)
    assert result["n"] == 100 * len(model_info(path.stem).classes)
    assert abs(result["accuracy"] - meta["metrics"]["subset_acc"]) <= 0.015, (result["accuracy"], meta["metrics"])
