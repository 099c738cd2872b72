"""Every registry model x every attribution method runs on a small input and gives a sane heatmap."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cnndemo.explain import Explainer, ExplainSettings, hooks_left, methods
from cnndemo.models import get_model, list_models, model_info

# captum announces its ReLU hooks on every Guided Grad-CAM call
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")

SMALL_SIDES = (32, 64, 96, 128, 224)  # ImageNet forms try these in turn; some (AlexNet) need more than 32
HEAVY = {"vgg", "densenet", "googlenet"}  # families whose ImageNet builds or forwards take seconds


def smallest_input(model: torch.nn.Module, info) -> torch.Tensor:
    """A random input of the model's own size, or the smallest square side an ImageNet form accepts."""
    c, h, w = info.input_size
    if info.dataset != "imagenet":
        return torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(0))
    for side in SMALL_SIDES:
        x = torch.randn(1, c, side, side, generator=torch.Generator().manual_seed(0))
        try:
            with torch.no_grad():
                model(x)
            return x
        except RuntimeError:
            continue
    raise AssertionError(f"{info.name} accepts none of {SMALL_SIDES}")


@pytest.fixture(scope="module")
def built():
    """Model name -> (explainer, input), each model built once for the whole module."""
    cache: dict[str, tuple[Explainer, torch.Tensor]] = {}

    def get(name: str) -> tuple[Explainer, torch.Tensor]:
        if name not in cache:
            cache.clear()  # keep one model alive at a time: the VGG forms are half a gigabyte each
            torch.manual_seed(0)
            model, info = get_model(name), model_info(name)
            cache[name] = (Explainer(model, info, max_records=1), smallest_input(model, info))
        return cache[name]

    return get


def cases():
    """(model, check) pairs, model-major so each model is built once; the slow families marked."""
    for name in list_models():
        info = model_info(name)
        marks = [pytest.mark.slow] if info.family in HEAVY and info.dataset == "imagenet" else []
        for check in ("features", *(m.name for m in methods())):
            yield pytest.param(name, check, marks=marks, id=f"{name}-{check}")


def test_registry_is_not_empty():
    assert len(list_models()) >= 10


@pytest.mark.parametrize("name,check", list(cases()))
def test_every_model(built, name, check):
    explainer, x = built(name)
    if check == "features":
        check_predictions_and_feature_maps(explainer, x)
    else:
        check_method(explainer, x, check)
    model = explainer.model
    assert hooks_left(model) == 0 and not model.training
    assert all(p.requires_grad for p in model.parameters())


def check_method(explainer: Explainer, x: torch.Tensor, method: str) -> None:
    """The method's heatmap has the input's H x W, is finite and lies in [0, 1]."""
    settings = ExplainSettings(method=method, ig_steps=2, occlusion_window=0.5, target=1)
    view = explainer.attribute(x, settings)
    assert view.heatmap.shape == tuple(x.shape[2:])
    assert view.heatmap.dtype == np.float32 and np.isfinite(view.heatmap).all()
    assert 0.0 <= view.heatmap.min() and view.heatmap.max() <= 1.0
    assert view.overlay.shape == (*x.shape[2:], 3) and view.overlay.dtype == np.uint8
    assert view.target == 1 and view.target_name == explainer.info.classes[1]


def check_predictions_and_feature_maps(explainer: Explainer, x: torch.Tensor) -> None:
    """Top-3 predictions are sorted; every listed feature layer renders with finite stats."""
    preds = explainer.predict(x, top_k=3)
    assert len(preds) == 3 and preds[0][1] >= preds[1][1] >= preds[2][1]
    for layer in explainer.info.feature_layers:
        view = explainer.feature_maps(x, layer, max_channels=8)
        assert view.grid.dtype == np.uint8 and 1 <= len(view.channels) <= 8
        assert all(np.isfinite([c.mean, c.max, c.zero_fraction]).all() for c in view.channels)
