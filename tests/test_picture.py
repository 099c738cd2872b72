"""Heatmaps over the uploaded picture: size and aspect follow the upload, heat only where the model looked."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from cnndemo.errors import BadInputError
from cnndemo.explain import ExplainSettings, Explainer
from cnndemo.explain.picture import MAX_SIDE, OUTSIDE, Photo, colorbar, display_size, fit_map, model_view
from cnndemo.explain.render import colorize


def _picture(width: int, height: int) -> Image.Image:
    """A picture with a gradient, so resizing is visible."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    return Image.fromarray(np.stack([x, x[::-1], np.full_like(x, 90)], axis=2).astype(np.uint8))


@pytest.mark.parametrize("size, expected", [((640, 480), (512, 384)), ((480, 640), (384, 512)),
                                            ((512, 300), (512, 300)), ((28, 28), (252, 252)),
                                            ((4000, 3000), (512, 384))])
def test_display_size_keeps_the_aspect_and_caps_the_long_side(size, expected):
    assert display_size(*size) == expected


def test_heat_only_inside_the_box_and_the_rest_dimmed():
    photo = Photo.of(_picture(640, 480), (80.0, 0.0, 560.0, 480.0))  # a centre square, as a centre crop is
    assert photo.size == (512, 384) and photo.box == (64, 0, 448, 384)
    out = photo.heat(np.ones((7, 7), np.float32), opacity=1.0, cmap="jet")
    red = colorize(np.ones((1, 1)), "jet")[0, 0]
    assert (out[:, 64:448] == red).all()  # full opacity: the box is the colour of 1 everywhere
    dimmed = (photo.pixels[:, :64].astype(np.float32) * OUTSIDE + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(out[:, :64], dimmed)


def test_opacity_zero_shows_the_picture_inside_the_box():
    photo = Photo.of(_picture(300, 200), (0, 0, 300, 200))
    np.testing.assert_array_equal(photo.heat(np.random.rand(32, 32), opacity=0.0), photo.pixels)


def test_a_box_outside_the_picture_is_refused():
    with pytest.raises(BadInputError, match="empty"):
        Photo.of(_picture(100, 100), (200, 0, 300, 100))


def test_fit_map_stretches_bilinearly_within_0_and_1():
    small = np.array([[0.0, 1.0]], np.float32)
    big = fit_map(small, 20, 3)
    assert big.shape == (3, 20) and big.min() >= 0 and big.max() <= 1
    assert big[0, 0] < 0.1 and big[0, -1] > 0.9 and 0.3 < big[0, 10] < 0.7  # a ramp, not two blocks


def test_model_view_enlarges_with_whole_pixel_blocks():
    tiny = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    big = model_view(tiny, min_side=30)
    assert big.shape == (20, 30, 3)
    np.testing.assert_array_equal(big[:10, :10], np.broadcast_to(tiny[0, 0], (10, 10, 3)))


def test_colorbar_is_an_rgb_picture_for_known_and_unknown_scales():
    for top in (0.0123, float("nan")):
        bar = colorbar("jet", top, "Grad-CAM value")
        assert bar.dtype == np.uint8 and bar.ndim == 3 and bar.shape[2] == 3 and bar.shape[1] > bar.shape[0]


class _Tiny(nn.Module):
    """A two-class colour net, small enough to explain in milliseconds."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _info(dataset: str, size: int):
    from cnndemo.models import ModelInfo
    return ModelInfo(name=f"tiny_{dataset}", family="tiny", builder=_Tiny, input_size=(3, size, size),
                     classes=("a", "b"), mean=(0.5,) * 3, std=(0.5,) * 3, dataset=dataset, cam_layer="conv",
                     feature_layers=("conv",), head_layer="fc", note="")


def test_same_scale_compares_classes_and_the_top1_map_is_unchanged():
    torch.manual_seed(0)
    explainer = Explainer(_Tiny().eval(), _info("cifar10", 16))
    picture = _picture(40, 30)
    top = explainer.predict(picture, 1)[0][0]
    other = "a" if top == "b" else "b"
    own = explainer.attribute(picture, ExplainSettings(target=other))
    shared = explainer.attribute(picture, ExplainSettings(target=other), same_scale=True)
    best = explainer.attribute(picture, ExplainSettings(target=top))
    assert shared.shared_scale and shared.scale == best.scale
    if own.scale > 0:  # the same raw values, expressed against the top-1 class's strongest
        np.testing.assert_allclose(shared.heatmap, np.clip(own.heatmap * own.scale / best.scale, 0, 1), atol=1e-6)
    top_shared = explainer.attribute(picture, ExplainSettings(target=top), same_scale=True)
    np.testing.assert_allclose(top_shared.heatmap, best.heatmap, atol=1e-6)


@pytest.mark.parametrize("method,which", [("gradcam", "the strongest value"), ("saliency", "the 99th percentile")])
def test_the_colour_bar_says_what_its_top_value_is_and_the_value_is_the_maps(method, which):
    """Issue 21: a bar peaking at 0.713 under 'scaled to its own strongest value' said neither what 0.713 is nor
    that the magnitude methods stop at their 99th percentile."""
    torch.manual_seed(0)
    explainer = Explainer(_Tiny().eval(), _info("cifar10", 16))
    picture = _picture(40, 30)
    view = explainer.attribute(picture, ExplainSettings(method=method, target="b"))
    folded = explainer.method(method).heat(explainer.record(picture).x, view.target)  # (map, raw value of its 1)
    raw = explainer.method(method)
    with raw:
        x = explainer.record(picture).x.clone().requires_grad_()
        a = raw.attribute(x, view.target, raw.resolve({})).detach()[0].double()
    values = a.abs().sum(0) if method == "saliency" else torch.relu(a.sum(0))
    top = float(torch.quantile(values.flatten(), 0.99)) if method == "saliency" else float(values.max())
    assert view.scale == pytest.approx(top, rel=1e-5) and folded[1] == pytest.approx(top, rel=1e-5)
    assert view.top_meaning() == f"{which} of this map"
    assert f"from 0 to {view.scale:.3g}" in view.top_text() and which in view.top_text()
    assert ("brightest 1 %" in view.top_text()) == (method == "saliency")
    shared = explainer.attribute(picture, ExplainSettings(method=method, target="b"), same_scale=True)
    assert shared.top_meaning() == f"{which} of the top-1 class's map"
    assert "same scale as the top-1" in shared.top_text() and which in shared.top_text()
