"""cnndemo.explain: the cached forward, Grad-CAM against captum, model state hygiene, threads, LRU bounds."""
from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from captum.attr import LayerAttribution, LayerGradCam
from PIL import Image

from cnndemo.errors import BadInputError
from cnndemo.explain import (AttributionView, Explainer, ExplainSettings, ModelCache, get_method, hooks_left,
                             methods, overlay)
from cnndemo.explain.methods import baseline, occlusion_window
from cnndemo.models import ModelInfo, get_model, model_info, resolve_layer

# captum announces its ReLU hooks on every Guided Grad-CAM call
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")


class TinyNet(nn.Module):
    """Colour net: the CAM conv is followed by an in-place ReLU; counts its forward calls; can be made to fail."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, classes)
        self.calls, self.fail = 0, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail:
            raise RuntimeError("forward failed on purpose")
        return self.fc(F.adaptive_avg_pool2d(self.bn(self.features(x)), 1).flatten(1))


class GreyNet(nn.Module):
    """Grey net with functional relu that returns (logits, aux) like an Inception net in training."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, 5)
        self.conv2 = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.conv2(F.max_pool2d(F.relu(self.conv1(x)), 2)))
        logits = self.fc(h.mean(dim=(2, 3)))
        return logits, logits.detach() * 0


def tiny_info(name: str = "tiny", channels: int = 3, size: int = 16, classes: int = 5, cam: str = "features.2",
              layers: tuple[str, ...] = ("features.0", "features.2")) -> ModelInfo:
    """A ModelInfo for the test nets."""
    return ModelInfo(name=name, family="test", builder=TinyNet, input_size=(channels, size, size),
                     classes=tuple(f"c{i}" for i in range(classes)), mean=(0.5,) * channels, std=(0.25,) * channels,
                     dataset="cifar10", cam_layer=cam, feature_layers=layers, head_layer="fc", note="")


GREY_INFO = replace(tiny_info("grey", channels=1, size=20, classes=4, cam="conv2", layers=("conv1", "conv2")),
                    builder=GreyNet)


def make(seed: int = 0) -> tuple[TinyNet, Explainer]:
    """A seeded tiny net and its explainer."""
    torch.manual_seed(seed)
    model = TinyNet().eval()
    return model, Explainer(model, tiny_info())


def image(seed: int, channels: int = 3, size: int = 16) -> torch.Tensor:
    """A random normalised input tensor."""
    return torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(seed))


def captum_cam(model: nn.Module, layer: str, x: torch.Tensor, target: int) -> torch.Tensor:
    """The reference: captum's LayerGradCam (relu), bilinearly upsampled to the input size."""
    forward = (lambda t: model(t)[0]) if isinstance(model, GreyNet) else model
    cam = LayerGradCam(forward, resolve_layer(model, layer)).attribute(x, target=target, relu_attributions=True)
    return LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear").detach()


def assert_cam_matches(model: nn.Module, explainer: Explainer, x: torch.Tensor, targets: list[int]) -> None:
    """Cached-path Grad-CAM equals captum's within 1e-5 of its largest value, raw and as a heatmap."""
    rec = explainer.record(x)
    for c in targets:
        ours, ref = rec.gradcam(c), captum_cam(model, explainer.info.cam_layer, x, c)
        scale = float(ref.abs().max())
        assert ours.shape == ref.shape == (1, 1, *x.shape[2:])
        assert torch.allclose(ours, ref, rtol=0, atol=1e-5 * max(scale, 1e-12)), c
        heat = explainer.attribute(x, ExplainSettings(target=c)).heatmap
        want = (ref[0, 0] / scale).numpy() if scale > 0 else np.zeros(heat.shape)
        np.testing.assert_allclose(heat, want, atol=1e-5)


def model_state(model: nn.Module) -> tuple[list[bool], list[bool], int]:
    """Every module's mode, every parameter's requires_grad and the number of hooks."""
    return [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()], hooks_left(model)


# Grad-CAM: cached path == captum


def test_gradcam_matches_captum_on_tiny_colour_net_with_inplace_relu():
    model, explainer = make()
    assert_cam_matches(model, explainer, image(1), [0, 1, 2, 3, 4])


def test_gradcam_matches_captum_on_grey_net_with_tuple_output():
    torch.manual_seed(1)
    model = GreyNet().eval()
    assert_cam_matches(model, Explainer(model, GREY_INFO), image(2, channels=1, size=20), [0, 1, 3])


@pytest.mark.parametrize("name", ["resnet18_cifar", "alexnet_cifar", "vgg11_bn_cifar", "mnist_cnn", "lenet5",
                                  "mnist_inception"])
def test_gradcam_matches_captum_on_registry_models(name):
    torch.manual_seed(0)
    model, info = get_model(name), model_info(name)
    x = image(3, channels=info.input_size[0], size=info.input_size[1])
    assert_cam_matches(model, Explainer(model, info), x, [0, 4, 9])


def test_gradcam_default_target_is_top1_and_names_it():
    model, explainer = make()
    view = explainer.attribute(image(4))
    top_name, top_p = explainer.predict(image(4), top_k=1)[0]
    assert (view.target_name, view.probability) == (top_name, pytest.approx(top_p))
    assert explainer.attribute(image(4), ExplainSettings(target="c3")).target == 3


# One forward per image: changes of layer / class / opacity reuse it


def test_changing_layer_class_opacity_does_not_run_forward_again():
    model, explainer = make()
    x = image(5)
    explainer.explain(x, layer="features.0")
    assert model.calls == 1
    explainer.feature_maps(x, "features.2")
    for c in range(5):
        explainer.attribute(x, ExplainSettings(target=c))
    for opacity in (0.0, 0.3, 1.0):
        explainer.attribute(x, ExplainSettings(opacity=opacity, colormap="viridis"))
    explainer.predict(x, top_k=3)
    assert model.calls == 1


def test_registry_model_forward_runs_once_for_changes():
    torch.manual_seed(0)
    model, info = get_model("resnet18_cifar"), model_info("resnet18_cifar")
    calls = []
    forward = model.forward
    model.forward = lambda *a: calls.append(1) or forward(*a)
    explainer, x = Explainer(model, info), image(6, size=32)
    explainer.explain(x, layer="layer1")
    for layer in info.feature_layers:
        explainer.feature_maps(x, layer)
    for c in (1, 2):
        explainer.attribute(x, ExplainSettings(target=c, opacity=0.2 * c))
    assert len(calls) == 1


def test_opacity_change_reuses_heatmap_without_model():
    model, explainer = make()
    view = explainer.attribute(image(7), ExplainSettings(opacity=0.0))
    np.testing.assert_array_equal(view.overlay, view.display)
    full = view.with_opacity(1.0)
    assert model.calls == 1 and full.heatmap is view.heatmap
    np.testing.assert_array_equal(full.overlay, overlay(view.display, view.heatmap, 1.0))
    assert not np.array_equal(full.overlay, view.overlay)


def test_a_layer_outside_the_metadata_costs_one_more_forward_then_is_kept():
    model, explainer = make()
    x = image(8)
    explainer.predict(x)
    explainer.feature_maps(x, "features.1")
    explainer.feature_maps(x, "features.1")
    explainer.feature_maps(x, "features.0")
    assert model.calls == 2


# Model state: hooks gone, modes and requires_grad restored, also on errors

METHODS = ("gradcam", "guided_gradcam", "integrated_gradients", "occlusion")  # the cheap mix of the 300-call loop


@pytest.mark.parametrize("method", [m.name for m in methods()])
def test_every_method_restores_mode_grad_flags_and_leaves_no_hooks(method):
    model, explainer = make()
    model.train()
    model.bn.eval()
    model.features[0].weight.requires_grad_(False)
    before = model_state(model)
    view = explainer.attribute(image(9), ExplainSettings(method=method, ig_steps=3, occlusion_window=0.5))
    assert model_state(model) == before and before[2] == 0
    assert view.heatmap.shape == (16, 16) and 0 <= view.heatmap.min() <= view.heatmap.max() <= 1


@pytest.mark.parametrize("method", ["guided_gradcam", "integrated_gradients", "occlusion"])
def test_state_restored_when_a_captum_method_raises(method):
    model, explainer = make()
    x = image(10)
    explainer.predict(x)
    model.train()
    before = model_state(model)
    model.fail = True
    with pytest.raises(RuntimeError, match="on purpose"):
        explainer.attribute(x, ExplainSettings(method=method, ig_steps=2, occlusion_window=0.5))
    assert model_state(model) == before


def test_state_restored_when_the_hooked_forward_raises():
    model, explainer = make()
    model.train()
    before = model_state(model)
    model.fail = True
    with pytest.raises(RuntimeError, match="on purpose"):
        explainer.explain(image(11))
    assert model_state(model) == before and len(explainer) == 0
    model.fail = False
    assert explainer.predict(image(11))  # a failed request leaves nothing broken behind


def test_three_hundred_calls_leave_no_hooks_and_the_prior_mode():
    model, explainer = make()
    model.train()
    worst = 0
    for i in range(300):
        x = image(i % 7)
        if i % 3 == 0:
            explainer.explain(x, layer="features.0", settings=ExplainSettings(target=i % 5))
        elif i % 3 == 1:
            explainer.feature_maps(x, "features.2")
        else:
            explainer.attribute(x, ExplainSettings(method=METHODS[i % 4], ig_steps=2, occlusion_window=0.5))
        worst = max(worst, hooks_left(model))
    assert worst == 0 and model.training and all(p.requires_grad for p in model.parameters())
    assert len(explainer) <= explainer.max_records


# Threads and caches


def test_two_threads_on_one_explainer_get_their_own_results():
    model, explainer = make()
    _, reference = make()
    xs = [image(20), image(21)]
    want = [(reference.predict(x), reference.attribute(x).heatmap) for x in xs]
    got: dict[int, list] = {0: [], 1: []}

    def work(k: int) -> None:
        for i in range(25):
            settings = ExplainSettings(opacity=(i % 5) / 5)
            got[k].append((explainer.predict(xs[k]), explainer.attribute(xs[k], settings).heatmap))
            if i % 7 == k:
                explainer.clear()  # force fresh forwards racing with cached reads

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in (0, 1):
        assert len(got[k]) == 25
        for preds, heat in got[k]:
            assert [n for n, _ in preds] == [n for n, _ in want[k][0]]
            np.testing.assert_allclose([p for _, p in preds], [p for _, p in want[k][0]], atol=1e-6)
            np.testing.assert_allclose(heat, want[k][1], atol=1e-6)
    assert hooks_left(model) == 0


def test_record_lru_is_bounded_and_evicts_the_oldest():
    torch.manual_seed(0)
    model = TinyNet().eval()
    explainer = Explainer(model, tiny_info(), max_records=2)
    for seed in (1, 2, 3):
        explainer.predict(image(seed))
    assert len(explainer) == 2 and model.calls == 3
    explainer.predict(image(3))
    explainer.predict(image(2))
    assert model.calls == 3
    explainer.predict(image(1))  # evicted: runs again
    assert model.calls == 4 and len(explainer) == 2


def test_model_cache_loads_lazily_bounds_models_and_loads_once_under_threads():
    loads: list[str] = []
    lock = threading.Lock()

    def loader(name: str):
        with lock:
            loads.append(name)
        torch.manual_seed(0)
        return TinyNet(), tiny_info(name)

    cache = ModelCache(loader, max_models=2)
    assert loads == []
    threads = [threading.Thread(target=cache.get, args=("a",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["a"]
    cache.get("b"), cache.get("c")
    assert cache.names() == ["b", "c"]
    assert cache.get("a").info.name == "a" and loads == ["a", "b", "c", "a"]
    assert cache.names() == ["c", "a"]


def test_compare_gives_top3_and_a_gradcam_overlay_per_model():
    def loader(name: str):
        torch.manual_seed(len(name))
        return TinyNet(), tiny_info(name)

    rows = ModelCache(loader).compare(image(30), ["m1", "model2"])
    assert [r.name for r in rows] == ["m1", "model2"]
    for row in rows:
        assert len(row.top3) == 3 and row.top3[0][1] >= row.top3[1][1] >= row.top3[2][1]
        assert row.overlay.shape == (16, 16, 3) and row.attribution.target_name == row.top3[0][0]
        assert row.attribution.method == "gradcam"


def test_compare_registry_models_from_one_picture_with_their_own_input_sizes():
    cache = ModelCache(max_models=2)
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    rows = cache.compare(picture, ["lenet5_mnist", "lenet5"])
    assert [r.overlay.shape for r in rows] == [(28, 28, 3), (32, 32, 3)]


# Views


def test_predictions_are_sorted_softmax_of_the_model():
    model, explainer = make()
    x = image(12)
    preds = explainer.predict(x, top_k=5)
    with torch.no_grad():
        probs = torch.softmax(model(x)[0], 0)
    assert [p for _, p in preds] == sorted((p for _, p in preds), reverse=True)
    for name, p in preds:
        assert p == pytest.approx(float(probs[int(name[1:])]), abs=1e-6)
    assert sum(p for _, p in preds) == pytest.approx(1.0, abs=1e-5)


def test_feature_maps_sort_channels_by_mean_and_report_stats_and_formula():
    model, explainer = make()
    x = image(13)
    view = explainer.feature_maps(x, "features.2", max_channels=4)
    with torch.no_grad():
        act = model.features[2](model.features[1](model.features[0](x)))[0]
    means = act.mean(dim=(1, 2))
    assert view.shape == (1, 6, 8, 8)
    assert [c.channel for c in view.channels] == torch.argsort(means, descending=True)[:4].tolist()
    for c in view.channels:
        assert c.mean == pytest.approx(float(means[c.channel]), abs=1e-5)
        assert c.max == pytest.approx(float(act[c.channel].max()), abs=1e-5)
        assert c.zero_fraction == pytest.approx(float((act[c.channel] == 0).float().mean()))
    assert "kernel 3, stride 2, padding 1" in view.description
    assert "(16 - 3 + 2*1)/2 + 1 = 8" in view.description
    assert view.grid.dtype == np.uint8 and view.grid.ndim == 3 and len(view.table()) == 4


def test_feature_maps_of_relu_layer_keep_the_layer_output_not_later_in_place_changes():
    model, explainer = make()
    x = image(14)
    explainer.feature_maps(x, "features.0")
    rec = explainer.record(x)
    with torch.no_grad():
        assert torch.allclose(rec.activations["features.0"], model.features[0](x))


def test_attribution_view_colorbar_and_figure():
    _, explainer = make()
    view = explainer.attribute(image(15), ExplainSettings(colormap="viridis"))
    assert view.colorbar.dtype == np.uint8 and view.colorbar.shape[2] == 3
    fig = view.colorbar_figure()
    assert len(fig.axes) == 1


def test_pictures_enter_through_cnndemo_images_grey_and_colour():
    from cnndemo.images import to_display

    colour = Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 45, 3), dtype=np.uint8))
    torch.manual_seed(1)
    grey_model = GreyNet()
    view = Explainer(grey_model, GREY_INFO).attribute(colour)
    assert view.heatmap.shape == (20, 20)
    np.testing.assert_array_equal(view.display, to_display(colour, GREY_INFO))
    colour_view = make()[1].attribute(colour.convert("L"), ExplainSettings(method="integrated_gradients",
                                                                          ig_steps=2))
    assert colour_view.overlay.shape == (16, 16, 3)


# Bad input


@pytest.mark.parametrize("kwargs", [dict(method="lime"), dict(opacity=1.5), dict(ig_steps=0),
                                    dict(ig_baseline="noise"), dict(occlusion_window=0), dict(nt_samples=0)])
def test_bad_settings_are_refused_clearly(kwargs):
    with pytest.raises(BadInputError):
        ExplainSettings(**kwargs)


def test_bad_layer_class_colormap_and_tensor_are_refused_clearly():
    _, explainer = make()
    x = image(16)
    with pytest.raises(BadInputError, match="features.0"):
        explainer.feature_maps(x, "nope")
    with pytest.raises(BadInputError, match="out of range"):
        explainer.attribute(x, ExplainSettings(target=99))
    with pytest.raises(BadInputError, match="unknown class"):
        explainer.attribute(x, ExplainSettings(target="zebra"))
    with pytest.raises(BadInputError, match="colour map"):
        explainer.attribute(x, ExplainSettings(colormap="nope"))
    with pytest.raises(BadInputError, match="tensor"):
        explainer.predict(torch.zeros(1, 1, 16, 16))


def test_cam_layer_that_does_not_feed_the_scores_is_refused():
    torch.manual_seed(0)
    model = TinyNet().eval()
    model.unused = nn.Conv2d(3, 3, 1)
    explainer = Explainer(model, replace(tiny_info(), cam_layer="unused"))
    with pytest.raises(BadInputError, match="not used"):
        explainer.attribute(image(17))
    assert hooks_left(model) == 0


# Method details


def test_integrated_gradients_of_a_linear_model_is_input_minus_baseline_times_weight():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    x = image(18, size=4)
    for kind in ("zeros", "mean", "black"):
        b = baseline(x, kind, (0.5, 0.4, 0.3), (0.2, 0.2, 0.2))
        method = get_method("integrated_gradients")(model, "1", (0.5, 0.4, 0.3), (0.2, 0.2, 0.2))
        attr = method.attribute(x.clone().requires_grad_(), 1,
                                ExplainSettings(method="integrated_gradients", ig_steps=4,
                                                ig_baseline=kind).method_options())
        want = (x - b) * model[1].weight[1].view(1, 3, 4, 4)
        assert torch.allclose(attr, want.detach(), atol=1e-5), kind


def test_noise_tunnel_changes_integrated_gradients():
    _, explainer = make()
    x = image(19)
    plain = explainer.attribute(x, ExplainSettings(method="integrated_gradients", ig_steps=4)).heatmap
    torch.manual_seed(0)
    noisy = explainer.attribute(x, ExplainSettings(method="integrated_gradients", ig_steps=4, noise_tunnel=True,
                                                   nt_samples=3)).heatmap
    assert noisy.shape == plain.shape and not np.allclose(noisy, plain)


def test_occlusion_window_scales_with_the_input():
    assert occlusion_window((3, 224, 224), 0.2) == ((3, 45, 45), (3, 22, 22))
    assert occlusion_window((1, 28, 28), 0.2) == ((1, 6, 6), (1, 3, 3))
    assert occlusion_window((1, 4, 4), 0.1) == ((1, 1, 1), (1, 1, 1))


def test_attribution_views_are_frozen():
    _, explainer = make()
    view = explainer.attribute(image(20))
    assert isinstance(view, AttributionView)
    with pytest.raises(AttributeError):
        view.opacity = 0.9
    with pytest.raises(AttributeError):
        ExplainSettings().method = "occlusion"


def test_model_cache_drop_forces_a_reload_and_the_lock_is_exclusive():
    loads: list[str] = []
    cache = ModelCache(lambda name: (loads.append(name) or TinyNet(), tiny_info(name)))
    explainer = cache.get("a")
    cache.drop("a")
    cache.drop("missing")
    assert cache.get("a") is not explainer and loads == ["a", "a"]
    done = []
    with explainer.lock:
        worker = threading.Thread(target=lambda: done.append(explainer.predict(image(1))))
        worker.start()
        worker.join(timeout=0.3)
        assert not done  # an explain call waits while someone else holds the model
    worker.join()
    assert done


def test_block_layer_description_shows_its_first_conv_formula():
    torch.manual_seed(0)
    model, info = get_model("resnet18_cifar"), model_info("resnet18_cifar")
    view = Explainer(model, info).feature_maps(image(21, size=32), "layer2")
    first = next(m for m in resolve_layer(model, "layer2").modules() if isinstance(m, nn.Conv2d))
    in_hw = view.shape[2] * first.stride[0]
    assert f"kernel {first.kernel_size[0]}, stride {first.stride[0]}, padding {first.padding[0]}" in view.description
    assert f"({in_hw} - {first.kernel_size[0]} + 2*{first.padding[0]})/{first.stride[0]} + 1 = {view.shape[2]}" \
        in view.description


def test_relu_layer_description_names_the_conv_before_it():
    torch.manual_seed(0)
    model, info = get_model("vgg11_cifar"), model_info("vgg11_cifar")
    view = Explainer(model, info).feature_maps(image(22, size=32), "features.1")
    conv = model.features[0]
    assert view.description.startswith("ReLU:")
    assert f"features.0 (Conv2d, kernel {conv.kernel_size[0]}, stride {conv.stride[0]}" in view.description


def test_captum_gradcam_method_class_agrees_with_the_cached_path():
    model, explainer = make()
    x = image(23)
    before = model_state(model)
    heat = get_method("gradcam")(model, "features.2")(x, 2)
    np.testing.assert_allclose(heat, explainer.attribute(x, ExplainSettings(target=2)).heatmap, atol=1e-5)
    assert model_state(model) == before

