"""Every registered method x one small model of each family, grey and colour; the cached Grad-CAM equals torchcam's
and captum's; every call leaves the model as it found it (mode, requires_grad, in-place flags, weights, no hooks)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from captum.attr import LayerAttribution, LayerGradCam
from PIL import Image
from torchcam.methods import GradCAM

from cnndemo.errors import BadInputError
from cnndemo.explain import Explainer, ExplainSettings, ModelGuard, hooks_left, methods
from cnndemo.explain.guard import LogitsOnly
from cnndemo.models import get_model, has_weights, list_models, model_info, resolve_layer, weights_status

pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning",
                                        "ignore:.*backward hook.*:UserWarning")

# one small model of each family at a small side it accepts (grey: the MNIST nets)
FAMILIES = {"lenet5": 32, "mnist_cnn": 28, "mnist_inception": 28, "alexnet_cifar": 32, "vgg11_cifar": 32,
            "googlenet_cifar": 16, "resnet18_cifar": 16, "densenet121_cifar": 16, "efficientnet_lite0": 64}
FAST = dict(ig_steps=2, nt_samples=2, occlusion_window=0.5, cam_samples=1, cam_channels=8)
NAMES = [m.name for m in methods()]


def state(model: nn.Module) -> tuple:
    """Everything an explain call must hand back unchanged, weights excepted."""
    return ([m.training for m in model.modules()], [type(m) for m in model.modules()],
            [getattr(m, "inplace", None) for m in model.modules()], [p.requires_grad for p in model.parameters()],
            hooks_left(model))


@pytest.fixture(scope="module")
def built():
    """Model name -> (explainer, input, weights copy), one model alive at a time, left in train mode."""
    cache: dict[str, tuple] = {}

    def get(name: str) -> tuple:
        if name not in cache:
            cache.clear()
            torch.manual_seed(0)
            model, info = get_model(name).train(), model_info(name)
            side = FAMILIES[name]
            x = torch.randn(1, info.input_size[0], side, side, generator=torch.Generator().manual_seed(1))
            weights = {k: v.clone() for k, v in model.state_dict().items()}
            cache[name] = (Explainer(model, info, max_records=1), x, weights)
        return cache[name]

    return get


@pytest.mark.parametrize("name,method", [(n, m) for n in FAMILIES for m in NAMES])  # model-major: one build each
def test_every_method_on_every_family(built, name, method):
    explainer, x, weights = built(name)
    model = explainer.model
    before = state(model)
    view = explainer.attribute(x, ExplainSettings(method=method, target=1, **FAST))
    assert view.heatmap.shape == tuple(x.shape[2:]) and view.heatmap.dtype == np.float32
    assert np.isfinite(view.heatmap).all() and 0.0 <= view.heatmap.min() <= view.heatmap.max() <= 1.0
    assert view.method == method and view.target == 1
    assert state(model) == before and before[0][0] is True and before[4] == 0
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("method", NAMES)
def test_grey_pictures_on_a_colour_model_and_colour_pictures_on_a_grey_model(method):
    rng = np.random.default_rng(2)
    colour = Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8))
    for name, picture in (("lenet5", colour.convert("L")), ("mnist_cnn", colour)):
        torch.manual_seed(0)
        explainer = Explainer(get_model(name), model_info(name))
        view = explainer.attribute(picture, ExplainSettings(method=method, **FAST))
        assert view.heatmap.shape == model_info(name).input_size[1:] and np.isfinite(view.heatmap).all()
        assert view.overlay.shape == (*view.heatmap.shape, 3)


def test_deeplift_on_a_reused_pooling_module_adds_up_to_the_score_change():
    """mnist_cnn calls one MaxPool2d twice, each time before a ReLU; captum's rules need one module per use and
    its own max-pool rule breaks there (the attributions summed to 10.8 for a score change of 2.45)."""
    torch.manual_seed(0)
    model, info = get_model("mnist_cnn").double(), model_info("mnist_cnn")
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with ModelGuard(model), torch.no_grad():
        change = float(model(x)[0, 2] - model(torch.zeros_like(x))[0, 2])
    with Explainer(model, info).method("deeplift") as method:
        attributions = method.attribute(x.clone().requires_grad_(), 2, {"ig_baseline": "zeros"}).detach()
    assert float(attributions.sum()) == pytest.approx(change, rel=1e-9)
    assert type(model.mp) is nn.MaxPool2d and hooks_left(model) == 0


@pytest.mark.parametrize("method", [m.name for m in methods() if m.uses_layer])
def test_cam_methods_refuse_a_layer_without_a_spatial_output(method):
    torch.manual_seed(0)
    explainer = Explainer(get_model("lenet5"), model_info("lenet5"))
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(BadInputError, match="spatial output"):
        explainer.attribute(x, ExplainSettings(method=method, layer="fc3", **FAST))
    with pytest.raises(BadInputError, match="spatial output"):  # the path without a cached forward, too
        explainer.method(method, "fc3")(x, 0, ExplainSettings(method=method, **FAST).method_options())
    assert hooks_left(explainer.model) == 0


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two maps."""
    return float(np.corrcoef(a.detach().flatten().double().numpy(), b.detach().flatten().double().numpy())[0, 1])


HEAVY = {"googlenet_cifar", "densenet121_cifar"}  # seconds to load and run on the 2-core CPU


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in HEAVY else []) for n in FAMILIES])
def test_cached_gradcam_equals_torchcam_and_captum(name):
    from cnndemo.zoo import Zoo

    model, info = Zoo().load(name)  # shipped weights where there are some: maps a trained net really draws
    side = FAMILIES[name]
    picture = Image.fromarray(np.random.default_rng(4).integers(0, 256, (side, side, 3), dtype=np.uint8))
    explainer = Explainer(model, info)
    rec = explainer.record(picture)
    x, layer = rec.x, resolve_layer(model, info.cam_layer)
    target = next(t for t in rec.top(5) if rec.gradcam(t).max() > 0)
    ours = rec.gradcam(target)
    with ModelGuard(model), GradCAM(LogitsOnly(model), layer, input_shape=tuple(x.shape[1:])) as cam:
        scores = LogitsOnly(model)(x.clone().requires_grad_())
        tc = F.interpolate(cam(target, scores, normalized=False)[0][None], size=x.shape[2:], mode="bilinear")
    with ModelGuard(model):
        ca = LayerGradCam(LogitsOnly(model), layer).attribute(x, target=target, relu_attributions=True)
    ca = LayerAttribution.interpolate(ca, tuple(x.shape[2:]), interpolate_mode="bilinear")
    assert correlation(ours, tc) >= 0.999 and correlation(ours, ca) >= 0.999
    np.testing.assert_allclose(explainer.attribute(picture, ExplainSettings(target=target)).heatmap,
                               (ours / ours.max())[0, 0].numpy(), atol=1e-5)
    assert hooks_left(model) == 0


# Pairs of methods that differ in theory: a map of one that equals the other's means a rule never fired (issue 21:
# on EfficientNet-Lite0's ReLU6 and LeNet's F.relu, Guided Backprop was Saliency and DeepLift was Input x Gradient).
MUST_DIFFER = {
    ("saliency", "guided_backprop"): "guided backprop drops the negative gradients at every ReLU",
    ("saliency", "input_x_gradient"): "the second multiplies the gradient by the input",
    ("gradcam", "guided_gradcam"): "the second multiplies the first by the pixel-level guided gradient",
    ("guided_backprop", "deeplift"): "different rules at every ReLU, and DeepLift multiplies by the input's change",
}
# Pairs left out of the correlation check, as they may come close by design:
# - input_x_gradient with deeplift: from the default baseline (zeros: the data set's mean colour) DeepLift's rescale
#   multiplier differs from the gradient only at units that are on for the picture and off for the baseline (or
#   the other way round), and both maps carry the same input factor; on the two-layer MNIST nets few units switch,
#   so the maps agree closely (measured r up to 0.994 on mnist_cnn, 0.995 on lenet5_mnist over 4 test digits,
#   0.65-0.89 on the CIFAR-10 nets). The property that tells them apart is checked instead, on the same pictures:
#   DeepLift's attributions add up to the class score's change from the baseline, Input x Gradient's do not.
# - the CAM family among itself (gradcam, gradcam_pp, smooth_gradcam_pp, xgradcam, layercam, scorecam, sscam, iscam):
#   all weight the same CAM layer's maps; where that layer feeds global average pooling and one linear layer (the
#   CIFAR-10 nets here, EfficientNet), XGrad-CAM equals Grad-CAM exactly (Fu et al. 2020) and Grad-CAM++ / LayerCAM
#   weights differ only where the gradient varies inside a map; SS-CAM and IS-CAM are Score-CAM averaged over noisy
#   masks or mask strengths (measured on resnet18_cifar: r 0.99-1.00 between them);
# - integrated_gradients with input_x_gradient or deeplift: IG equals Input x Gradient for a model linear along the
#   path, and DeepLift's rescale rule approximates IG (r 0.98 on mnist_cnn);
# - guided_backprop with guided_gradcam: equal wherever the Grad-CAM map is flat (r 0.97 on resnet18_cifar);
# - occlusion with any other: no theory says how far apart they are.


def lesson_pictures(dataset: str) -> list:
    """Two real pictures of the model's kind: test pictures from ../shared/data, or scikit-image's photos."""
    if dataset == "imagenet":
        import skimage.data

        return [Image.fromarray(skimage.data.chelsea()), Image.fromarray(skimage.data.coffee())]
    from conftest import shared_test_pictures

    return [picture for picture, _ in shared_test_pictures(dataset, 1)[:2]]


TRAINED_HEAVY = {"googlenet_cifar", "densenet121_cifar", "efficientnet_lite0"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in TRAINED_HEAVY else [])
                                  for n in list_models()])
def test_methods_that_differ_in_theory_give_different_maps_on_a_trained_model(name):
    from cnndemo.zoo import Zoo

    if not has_weights(name):  # the rules on its architecture are checked with random weights in test_activations
        pytest.skip(f"{name} has no trained weights here ({weights_status(name)})")
    model, info = Zoo().load(name)
    explainer = Explainer(model, info)
    names = sorted({m for pair in MUST_DIFFER for m in pair})
    for picture in lesson_pictures(info.dataset):
        maps = {m: explainer.attribute(picture, ExplainSettings(method=m)).heatmap.ravel() for m in names}
        for (a, b), why in MUST_DIFFER.items():
            r = float(np.corrcoef(maps[a], maps[b])[0, 1])
            assert r < 0.99, f"{name}: {a} and {b} gave the same map (r = {r:.4f}) though {why}"
        change, lift, by_input = sums(explainer, picture)
        assert lift == pytest.approx(change, rel=1e-3, abs=1e-4)
        assert abs(by_input - change) > 0.01 * abs(change)
    assert hooks_left(model) == 0


def sums(explainer: Explainer, picture) -> tuple[float, float, float]:
    """For the top-1 class: its score's change from the zero baseline, and the sums of DeepLift's and Input x
    Gradient's raw attributions."""
    rec = explainer.record(picture)
    target, x = rec.top(1)[0], rec.x
    with ModelGuard(explainer.model), torch.no_grad():
        scores = LogitsOnly(explainer.model)(torch.cat([x, torch.zeros_like(x)]))[:, target]
    totals = []
    for name in ("deeplift", "input_x_gradient"):
        with explainer.method(name) as method:
            totals.append(float(method.attribute(x.clone().requires_grad_(), target, method.resolve({})).sum()))
    return float(scores[0] - scores[1]), *totals
