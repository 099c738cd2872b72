"""The layer picker for people (cnndemo.learn.layers): forward order checked with independent hooks, every layer
the forward runs listed once, stages in order, on every registry model."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cnndemo import models
from cnndemo.learn.layers import HEAD, layer_choices, layer_list


def entered(name: str) -> list[str]:
    """Module names in the order a plain forward enters them (pre-hooks, first entry), on shape-only tensors."""
    with torch.device("meta"):
        model = models.get_model(name).eval()
    order: list[str] = []

    def opener(n: str):
        def hook(module, args):
            if n not in order:
                order.append(n)
        return hook
    handles = [m.register_forward_pre_hook(opener(n)) for n, m in model.named_modules() if n]
    with torch.no_grad():
        model(torch.empty(1, *models.model_info(name).input_size, device="meta"))
    for h in handles:
        h.remove()
    return order


@pytest.mark.parametrize("name", models.list_models())
def test_layers_are_listed_once_in_forward_order_with_stages_in_order(name):
    info = models.model_info(name)
    layers = layer_list(info)
    names = [c.name for c in layers]
    assert names == entered(name)  # forward order, and exactly the modules the forward runs, each once
    assert len(set(names)) == len(names)
    stages = [float("inf") if c.first == HEAD else c.first for c in layers]
    assert stages == sorted(stages)  # stage labels never go back
    assert {info.cam_layer, *info.feature_layers} <= set(names)  # Explore's defaults are among the choices
    n = layers[0].stages
    for c in layers:
        assert c.label.endswith(f" — {c.name}") and (c.label.startswith("Head") or f" of {n}" in c.label)


def test_labels_name_the_stage_size_and_part():
    labels = dict((v, k) for k, v in layer_choices(models.model_info("resnet18")))
    assert labels["conv1"].startswith("Stage 1 of 5 (112x112, early) · convolution 1")
    assert labels["layer2.0.conv1"].startswith("Stage 3 of 5 (28x28, middle) · convolution 1")
    assert labels["layer2"].startswith("Stage 3 of 5 (28x28, middle) · group of blocks 1")
    assert labels["layer4.1"].startswith("Stage 5 of 5 (7x7, late) · residual block 2")
    assert labels["fc"].startswith("Head (after the maps, late) · classifier 1")


def test_a_squeeze_and_excitation_map_does_not_open_a_stage():
    layers = layer_list(models.model_info("efficientnet_lite0"))
    sizes = [c.size for c in layers if c.first == c.last != HEAD]
    assert list(dict.fromkeys(sizes)) == ["112x112", "56x56", "28x28", "14x14", "7x7"]


def test_a_module_called_in_several_stages_says_so():
    mp = next(c for c in layer_list(models.model_info("mnist_cnn")) if c.name == "mp")
    assert (mp.first, mp.last) == (2, 4) and mp.label.startswith("Stages 2-4 of 4 (12x12 to 4x4, middle to late)")


def test_unrun_heads_and_module_lists_are_not_offered():
    names = {c.name for c in layer_list(models.model_info("googlenet_cifar"))}
    assert not any(n.startswith(("aux1", "aux2")) for n in names)  # training-only heads
    assert "_blocks" not in {c.name for c in layer_list(models.model_info("efficientnet_lite0"))}
    assert isinstance(models.get_model("efficientnet_lite0")._blocks, nn.ModuleList)
