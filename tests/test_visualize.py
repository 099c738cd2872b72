"""Channel and class visualisation (cnndemo.insight.visualize): the pictures excite their own units, the request is
checked, the stream, cancel and cache behave, and the model is left as it was."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from cnndemo.errors import BadInputError
from cnndemo.explain import Explainer, hooks_left
from cnndemo.images import seen_tensor
from cnndemo.insight.visualize import (COLOR_SQRT, MAX_STEPS, MAX_UNITS, PREVIEWS, Objective, VisualizationCache,
                                       VisualizeSettings, VizCancelled, VizDone, VizProgress, channel_counts,
                                       frequency_scale, lean_copy, run_visualization, visualize)

from conftest import channel_responses


def own_wins(r: np.ndarray) -> float:
    """The fraction of units whose own picture excites them more than every other unit's picture does."""
    others = np.where(np.eye(len(r), dtype=bool), -np.inf, r).max(axis=1)
    return float((np.diag(r) > others).mean())


@pytest.mark.slow
def test_each_channel_answers_its_own_picture_most(trained):
    """10 channels of resnet18_cifar's layer2 (trained): for >= 90 % of them, the picture made for the channel
    excites it more than any picture made for another channel, measured on the model as handed over."""
    model, info = trained("resnet18_cifar")
    channels = tuple(range(0, 60, 6))
    result = run_visualization(Explainer(model, info), VisualizeSettings(layer="layer2", units=channels),
                               cache=VisualizationCache())
    r = channel_responses(model, info, "layer2", channels, result.pictures)
    wins = own_wins(r)
    print(f"own picture wins for {wins:.0%} of channels; own / best other:",
          np.round(np.diag(r), 2), np.round(np.where(np.eye(len(r), dtype=bool), -np.inf, r).max(axis=1), 2))
    assert wins >= 0.9
    np.testing.assert_allclose(result.responses, r, rtol=1e-3, atol=1e-3)  # the numbers shown are the model's


def test_class_pictures_raise_their_own_class(trained):
    """Class visualisation on lenet5_mnist (grey): each class's score is highest on the picture made for it."""
    model, info = trained("lenet5_mnist")
    classes = (1, 3, 7)
    result = run_visualization(Explainer(model, info), VisualizeSettings(units=classes, objective="class"),
                               cache=VisualizationCache())
    with torch.no_grad():
        logits = model(torch.cat([seen_tensor(Image.fromarray(p), info) for p in result.pictures]))
    r = logits[:, list(classes)].T.numpy()
    assert own_wins(r) == 1.0
    assert result.labels == tuple(info.classes[c] for c in classes)
    assert all(p.shape == (28, 28) and p.dtype == np.uint8 for p in result.pictures)  # grey, the input size
    np.testing.assert_allclose(result.responses, r, rtol=1e-4, atol=1e-4)
    assert "logit" in result.caption(0)


def test_model_is_left_as_it_was(trained):
    """Mode, requires_grad, weights and hooks of the model handed over are unchanged (even in train mode)."""
    model, info = trained("lenet5_mnist")
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run_visualization(Explainer(model, info), VisualizeSettings(layer="cn2", units=(0, 1), steps=8),
                      cache=VisualizationCache())
    assert model.training and all(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())
    assert hooks_left(model) == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_progress_streams_pictures_then_done(trained):
    """Previews with growing steps and a fraction for a bar, pictures that change, then one VizDone."""
    model, info = trained("lenet5_mnist")
    messages = list(visualize(Explainer(model, info), VisualizeSettings(layer="cn1", units=(0, 2, 4), steps=24),
                              cache=VisualizationCache()))
    progress = [m for m in messages if isinstance(m, VizProgress)]
    assert isinstance(messages[-1], VizDone) and not messages[-1].cached
    assert len(progress) == PREVIEWS and [m.step for m in progress] == list(range(2, 25, 2))
    assert progress[-1].fraction == 1.0 and len(progress[0].pictures) == 3
    assert not np.array_equal(progress[0].pictures[0], progress[-1].pictures[0])
    np.testing.assert_array_equal(progress[-1].pictures[0], messages[-1].result.pictures[0])


def test_cache_answers_a_repeat_at_once_and_only_a_repeat(trained):
    """The same request comes back cached (the same result); other steps or other weights are computed anew."""
    model, info = trained("lenet5_mnist")
    explainer, cache = Explainer(model, info), VisualizationCache(max_entries=2)
    settings = VisualizeSettings(layer="cn1", units=(0, 1), steps=8)
    first = run_visualization(explainer, settings, cache=cache)
    again = list(visualize(explainer, settings, cache=cache))
    assert len(again) == 1 and again[0].cached and again[0].result is first
    explicit = VisualizeSettings(layer="cn1", units=(0, 1), steps=8, size=28)  # lenet's own side, said aloud
    assert run_visualization(explainer, explicit, cache=cache) is first
    assert run_visualization(explainer, VisualizeSettings(layer="cn1", units=(0, 1), steps=9), cache=cache) \
        is not first
    with torch.no_grad():
        model.cn1.bias.add_(1.0)  # new weights, same name: not the same visualisation
    assert run_visualization(explainer, settings, cache=cache) is not first
    assert len(cache) == 2  # bounded: the oldest was dropped


def test_cancel_stops_with_a_sentence_and_keeps_nothing(trained):
    """A cancel before the first step, and one after a preview: VizCancelled with a sentence; nothing cached."""
    model, info = trained("lenet5_mnist")
    explainer, cache, cancel = Explainer(model, info), VisualizationCache(), threading.Event()
    settings = VisualizeSettings(layer="cn1", units=(0,), steps=16)
    cancel.set()
    (only,) = list(visualize(explainer, settings, cancel, cache))
    assert isinstance(only, VizCancelled) and only.step == 0 and "Cancelled" in only.sentence
    cancel.clear()
    seen = []
    for message in visualize(explainer, settings, cancel, cache):
        seen.append(message)
        cancel.set()
    assert isinstance(seen[-1], VizCancelled) and seen[-1].step == seen[0].step
    with pytest.raises(BadInputError, match="Cancelled"):
        run_visualization(explainer, settings, cancel, cache)
    assert len(cache) == 0 and hooks_left(model) == 0


@pytest.mark.parametrize("settings, message", [
    (dict(layer="fc1", units=(0,)), "not channel maps"),
    (dict(layer="cn1", units=(6,)), "channel 6 is out of range: layer 'cn1' has 6 channels"),
    (dict(units=(10,), objective="class"), "class 10 is out of range: the model has 10 classes"),
    (dict(layer="nope", units=(0,)), "no layer 'nope'"),
])
def test_requests_the_model_cannot_answer_get_a_sentence(trained, settings, message):
    """A layer with no channels, a channel or class out of range, an unknown layer: BadInputError, model intact."""
    model, info = trained("lenet5_mnist")
    with pytest.raises(BadInputError, match=message):
        run_visualization(Explainer(model, info), VisualizeSettings(**settings), cache=VisualizationCache())
    assert hooks_left(model) == 0


@pytest.mark.parametrize("fields, message", [
    (dict(steps=0), "steps must be a whole number from"), (dict(steps=MAX_STEPS + 1), "steps must be"),
    (dict(steps=2.5), "steps must be"), (dict(units=()), "pick 1 to"), (dict(units=(1, 1)), "each channel once"),
    (dict(units=tuple(range(MAX_UNITS + 1))), "pick 1 to"), (dict(units=(-1,)), "whole numbers from 0"),
    (dict(size=8), "picture side"), (dict(layer=""), "pick a layer"), (dict(objective="neuron"), "unknown objective"),
])
def test_bad_settings_get_a_sentence(fields, message):
    """Steps, units, size, layer and objective are checked when the settings are made."""
    with pytest.raises(BadInputError, match=message):
        VisualizeSettings(**{"layer": "cn1", "units": (0,), **fields})


def test_channel_counts_list_layers_with_channel_maps(trained):
    """lenet5_mnist: its two convolutions, with their channel counts; no linear layer."""
    model, info = trained("lenet5_mnist")
    assert channel_counts(Explainer(model, info)) == {"cn1": 6, "cn2": 16}
    assert hooks_left(model) == 0


def test_lean_copy_computes_what_the_model_computes(trained):
    """The private copy (batch norms as affine maps, channels_last) gives the model's outputs."""
    model, info = trained("resnet18_cifar")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(lean_copy(model)(x).numpy(), model(x).numpy(), rtol=1e-4, atol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in lean_copy(model).modules())


def test_frequency_scale_is_one_over_frequency_with_unit_rms():
    """Halving at twice the frequency, the lowest standing in for zero, root mean square 1."""
    s = frequency_scale(32)
    assert s.shape == (32, 17)
    assert torch.isclose(s.pow(2).mean().sqrt(), torch.tensor(1.0))
    assert torch.isclose(s[0, 0], s[0, 1]) and torch.isclose(s[0, 1], 2 * s[0, 2])


def test_colour_matrix_is_measured_from_the_example_photos():
    """COLOR_SQRT @ COLOR_SQRT.T is the colour covariance of cnndemo.examples' colour photos (up to a factor)."""
    from cnndemo.examples import example_image, example_names
    pixels = np.concatenate([np.asarray(example_image(n), dtype=np.float64).reshape(-1, 3) / 255
                             for n in example_names() if "silhouette" not in n])
    cov = np.cov(pixels.T)
    product = (COLOR_SQRT @ COLOR_SQRT.T).double().numpy()
    np.testing.assert_allclose(product / product.max(), cov / cov.max(), atol=5e-3)


def test_objective_meanings_are_sentences():
    """Each objective says what its numbers are."""
    assert all(o.meaning for o in Objective)
