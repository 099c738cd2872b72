"""The app's model list: registry models are fed at the size their shipped checkpoint was trained and tested at."""
from __future__ import annotations

import torch

from cnndemo import checkpoints
from cnndemo.models import get_model, model_info, weights
from cnndemo.zoo import Zoo


def test_shipped_checkpoint_trained_at_another_size_sets_the_input_size(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "SHIPPED_DIR", tmp_path)
    assert Zoo().info("mnist_cnn").input_size == model_info("mnist_cnn").input_size == (1, 28, 28)
    torch.manual_seed(0)
    checkpoints.save(get_model("mnist_cnn"), tmp_path / "mnist_cnn", {"arch": "mnist_cnn", "input_size": [1, 20, 20]})
    zoo = Zoo()
    model, info = zoo.load("mnist_cnn")
    assert info.input_size == zoo.info("mnist_cnn").input_size == (1, 20, 20)
    assert zoo.state("mnist_cnn").trained and model_info("mnist_cnn").input_size == (1, 28, 28)


def test_a_checkpoint_at_the_registry_size_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "SHIPPED_DIR", tmp_path)
    checkpoints.save(get_model("mnist_cnn"), tmp_path / "mnist_cnn", {"arch": "mnist_cnn", "input_size": [1, 28, 28]})
    assert Zoo().info("mnist_cnn") == model_info("mnist_cnn")
