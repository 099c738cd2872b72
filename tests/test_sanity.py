"""cnndemo.explain.sanity: the cascading randomisation test on a trained model, which itself stays untouched."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnndemo.errors import BadInputError
from cnndemo.explain import Explainer, ExplainSettings, hooks_left
from cnndemo.explain.sanity import FLAG_ABOVE, SanityResult, cascade, parameterised, spearman
from conftest import shared_test_pictures

pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")


@pytest.fixture(scope="module")
def lenet():
    """The shipped LeNet-5 trained on MNIST."""
    from cnndemo.zoo import Zoo
    return Explainer(*Zoo().load("lenet5_mnist"))


@pytest.fixture(scope="module")
def digits():
    """One MNIST test digit per class, or a skip."""
    return shared_test_pictures("mnist", 1)


def test_gradcam_of_trained_lenet_changes_once_every_layer_is_random(lenet, digits):
    finals = []
    for picture, label in digits[:5]:
        result = lenet.sanity(picture, ExplainSettings(target=label))
        assert result.correlations[0] == pytest.approx(1.0) and result.stages[0] == "original"
        assert 2 <= len(result.stages) <= 7 and len(result.heatmaps) == len(result.stages)
        finals.append(result.final)
        assert not result.flagged and "passes" in result.verdict("Grad-CAM")
    assert max(abs(f) for f in finals) < FLAG_ABOVE, finals


def test_the_cached_model_is_left_as_it_was(lenet, digits):
    model = lenet.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    try:
        lenet.sanity(digits[0][0], ExplainSettings(method="saliency"))
        lenet.sanity(digits[0][0], ExplainSettings(method="gradcam_pp"))
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        assert model.training and all(m.training for m in model.modules())
        assert [p.requires_grad for p in model.parameters()] == flags
        assert hooks_left(model) == 0
    finally:
        model.eval()


def test_the_cascade_runs_from_the_output_back_in_at_most_six_stages(lenet):
    names = parameterised(lenet.model)
    stages = cascade(lenet.model)
    assert len(stages) <= 6 and sorted(sum(stages, [])) == sorted(names)
    assert stages[0][0] == names[-1] and stages[-1][-1] == names[0]  # the output layer first, the first conv last
    assert len(cascade(lenet.model, 2)) == 2
    with pytest.raises(BadInputError, match="max_stages"):
        cascade(lenet.model, 0)


def test_spearman_of_maps():
    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert spearman(a, a * 3 + 1) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.zeros_like(a)) == 0.0  # the map was wiped out
    assert math.isnan(spearman(np.zeros_like(a), a))  # a blank original ranks nothing


def _result(correlations: tuple[float, ...]) -> SanityResult:
    """A result with the given correlations (the maps themselves do not matter to the verdict)."""
    maps = tuple(np.zeros((2, 2), np.float32) for _ in correlations)
    return SanityResult("x", 0, tuple(f"s{i}" for i in range(len(correlations))), maps, correlations, 0.0)


def test_a_map_that_survives_randomisation_is_flagged_with_a_sentence():
    assert _result((1.0, 0.9, 0.8)).flagged and "hardly changes" in _result((1.0, 0.9, 0.8)).verdict("M")
    assert _result((1.0, 0.5, -0.6)).flagged
    assert not _result((1.0, 0.7, 0.2)).flagged and "passes" in _result((1.0, 0.7, 0.2)).verdict("M")
    blank = _result((math.nan, math.nan))
    assert not blank.flagged and "blank" in blank.verdict("M")


def test_the_same_request_gives_the_same_strip(lenet, digits):
    a = lenet.sanity(digits[1][0], ExplainSettings(method="saliency"))
    b = lenet.sanity(digits[1][0], ExplainSettings(method="saliency"))
    assert a.correlations == b.correlations
    assert all(np.array_equal(x, y) for x, y in zip(a.heatmaps, b.heatmaps))


def test_bad_requests_get_a_sentence(lenet, digits):
    from cnndemo.explain.sanity import sanity_check
    x = lenet.record(digits[0][0]).x
    with pytest.raises(BadInputError, match="unknown method"):
        sanity_check(lenet.model, x, 0, "nope", lenet.info.cam_layer)
    with pytest.raises(BadInputError, match="out of range"):
        lenet.sanity(digits[0][0], ExplainSettings(target=10))
    with pytest.raises(BadInputError, match="no layers with weights"):
        cascade(torch.nn.Sequential(torch.nn.ReLU()))
