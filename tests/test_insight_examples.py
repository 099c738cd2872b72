"""Dataset examples: the one pass keeps each channel's true top-k, each patch is its position's receptive field,
browsing never runs the model, and bad requests get a sentence."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from cnndemo.data import ClassSet, ClassSetLimits, TensorData, shapes
from cnndemo.errors import BadInputError
from cnndemo.explain.guard import hooks_left, layer_module
from cnndemo.insight.examples import (ExampleSettings, channel_examples, dataset_examples, examples_figure,
                                      layer_maps, ranked_channels)
from cnndemo.insight.kept import Kept
from cnndemo.insight.pictures import Pictures
from cnndemo.insight import examples as ex
from cnndemo.models import get_model
from cnndemo.zoo import registry_info


def shapes_pictures(n: int) -> TensorData:
    """The first n pictures of the shapes test split."""
    return shapes.load("test").subset(torch.arange(n))


def model_and_info(name: str):
    """A registry model with random weights (the pass does not care whether it was trained) and its metadata."""
    torch.manual_seed(0)
    return get_model(name), registry_info(name)


def all_maps(model, info, layer: str, data: TensorData) -> torch.Tensor:
    """The layer's full output for every picture (N, C, H, W), by a plain hooked forward: the brute force."""
    from cnndemo.data import BatchSpec, to_input
    seen = []
    handle = layer_module(model, layer).register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
    try:
        with torch.no_grad():
            model(to_input(data.images, BatchSpec(info.input_size, info.mean, info.std)))
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize("name,layer", [("resnet18_cifar", "layer2"), ("lenet5", "cn2"), ("vgg11_cifar", "features.3")])
def test_top_k_equals_a_brute_force_sort(name, layer):
    model, info = model_and_info(name)
    data, settings = shapes_pictures(60), ExampleSettings(k=5, batch_size=16, min_pictures=20)  # 4 batches merged
    kept = ex.record(model, info, layer_maps(info, layer), Pictures(data, "60 shapes"), settings)
    maps = all_maps(model, info, layer, data)
    strongest = maps.flatten(2).max(2).values  # (N, C)
    expected = strongest.sort(0, descending=True).values[:5]
    assert torch.allclose(kept.values, expected, atol=1e-5)  # the same k values, in order, for every channel
    for c in range(kept.channels):  # the pictures and positions kept do give those values (ties may swap pictures)
        n, pos = kept.pictures[:, c], kept.positions[:, c]
        assert torch.allclose(strongest[n, c], kept.values[:, c], atol=1e-5)
        assert torch.allclose(maps[n, c, pos[:, 0], pos[:, 1]], kept.values[:, c], atol=1e-5)
    assert len(set(kept.pictures[:, 0].tolist())) == 5  # k different pictures, not one picture k times


@pytest.mark.parametrize("name,layer", [("resnet18_cifar", "layer2"), ("efficientnet_lite0", "_blocks.3"),
                                        ("lenet5", "cn2"), ("googlenet_cifar", "a3")])
def test_each_box_is_the_receptive_field_of_its_position(name, layer):
    """The box equals the input pixels the position's activations depend on: the bounding box of the input
    gradient of every channel at that position (a real forward and backward, not the trace's arithmetic)."""
    model, info = model_and_info(name)
    kept = ex.record(model, info, layer_maps(info, layer), Pictures(shapes_pictures(20), "20 shapes"),
                     ExampleSettings(k=3, min_pictures=3))
    channel = ranked_channels(kept)[0]
    for example in channel_examples(kept, channel).examples:
        assert example.box == gradient_box(model, info, layer, example)
        top, left, bottom, right = example.box
        assert example.patch.shape == (bottom - top, right - left, 3)
        assert 0 < bottom - top <= info.input_size[1] and 0 < right - left <= info.input_size[2]


def gradient_box(model, info, layer: str, example) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the input pixels with a nonzero gradient of the layer at example.position."""
    x = torch.randn(1, *info.input_size, requires_grad=True)  # random: no pixel's gradient vanishes by chance
    seen = []
    handle = layer_module(model, layer).register_forward_hook(lambda m, i, o: seen.append(o))
    try:
        model(x)
    finally:
        handle.remove()
    row, col = example.position
    grad, = torch.autograd.grad(seen[0][0, :, row, col].sum(), x)
    hit = grad[0].abs().sum(0).nonzero()
    return int(hit[:, 0].min()), int(hit[:, 1].min()), int(hit[:, 0].max()) + 1, int(hit[:, 1].max()) + 1


def test_browsing_reads_the_pass_and_never_runs_the_model():
    model, info = model_and_info("resnet18_cifar")
    kept_passes: Kept = Kept(max_items=2)
    settings = ExampleSettings(k=4, max_pictures=40)
    training = [m.training for m in model.modules()]
    first = dataset_examples(model, info, "layer1", "shapes", settings, kept=kept_passes)
    assert hooks_left(model) == 0 and [m.training for m in model.modules()] == training
    assert first.count == 40 and first.values.shape == (4, 64)
    calls = []
    handle = model.register_forward_pre_hook(lambda m, i: calls.append(1))
    try:
        again = dataset_examples(model, info, "layer1", "shapes", settings, kept=kept_passes)
        views = [channel_examples(again, c) for c in range(again.channels)]
        assert again is first and not calls and kept_passes.builds == 1
        assert all(len(v.examples) == 4 for v in views) and "layer1" in views[0].caption
        assert examples_figure(views[0]).axes  # draws
        with torch.no_grad():  # new weights: another pass, not the old one
            next(model.parameters()).add_(1.0)
        assert dataset_examples(model, info, "layer1", "shapes", settings, kept=kept_passes) is not first
        assert not calls  # the pass ran on a private copy: the served model's hooks (another request's) never fired
    finally:
        handle.remove()


def test_each_kind_of_data_set(tmp_path):
    model, info = model_and_info("lenet5")
    settings = ExampleSettings(k=3, min_pictures=6)
    pictures = ClassSet(["dark", "light"], ClassSetLimits(side=32))
    for number in range(4):
        pictures.add("dark", [np.full((32, 32, 3), 10 + number, np.uint8)])
        pictures.add("light", [np.full((32, 32, 3), 200 + number, np.uint8)])
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for number in range(8):
            buf = io.BytesIO()
            Image.fromarray(np.full((20, 20, 3), 30 * number, np.uint8)).save(buf, "PNG")
            zf.writestr(f"{'ab'[number % 2]}/{number}.png", buf.getvalue())
    for source in ("shapes", pictures, str(archive)):
        kept = dataset_examples(model, info, "cn1", source, settings, kept=Kept(1))
        assert kept.count == (1000 if source == "shapes" else 8) and kept.values.shape == (3, 6)


@pytest.mark.parametrize("layer,source,settings,match", [
    ("fc3", "shapes", ExampleSettings(), "has no channels"),
    ("nope", "shapes", ExampleSettings(), "has no layer 'nope'"),
    ("cn1", "no such set", ExampleSettings(), "unknown data set"),
    ("cn1", "/no/such/archive.zip", ExampleSettings(), "there is no archive"),
    ("cn1", shapes.load("test").subset(torch.arange(5)), ExampleSettings(), "needs at least 20"),
])
def test_bad_requests_get_a_sentence(layer, source, settings, match):
    model, info = model_and_info("lenet5")
    with pytest.raises(BadInputError, match=match):
        dataset_examples(model, info, layer, source, settings, kept=Kept(1))


def test_a_channel_out_of_range_gets_a_sentence():
    model, info = model_and_info("lenet5")
    kept = ex.record(model, info, layer_maps(info, "cn1"), Pictures(shapes_pictures(20), "20"),
                     ExampleSettings(k=2))
    with pytest.raises(BadInputError, match="channels 0 to 5"):
        channel_examples(kept, 6)
