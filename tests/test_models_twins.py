"""Every ImageNet form with a torchvision_name is a drop-in twin of torchvision's model of that name."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from cnndemo.models import list_models, model_info

TWINS = [n for n in list_models() if model_info(n).torchvision_name]
FULL_SIZE = {"alexnet", "googlenet"}  # cheap enough to check at 224x224; the rest at 64x64
SLOW_FAMILIES = {"VGG"}  # 130M+ parameters: seconds just to initialise torchvision's copy


def _torchvision_model(name: str) -> nn.Module:
    """torchvision's model, randomly initialised, in the form our twin mirrors."""
    kwargs = {"aux_logits": True, "init_weights": True} if name == "googlenet" else {}
    return torchvision.models.get_model(name, weights=None, **kwargs)


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """state_dict key -> tensor shape."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _calibrate_batch_norm(model: nn.Module) -> nn.Module:
    """Give batch norms real running statistics, so eval outputs depend on the input.

    Freshly initialised BN layers (mean 0, variance 1) do not rescale; with small init weights a deep
    net's eval output then collapses to its last bias and any two nets with that bias would 'match'.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one batch sets the statistics exactly
    with torch.no_grad():
        model.train()(torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(2)))
    return model.eval()


def _cases() -> list:
    """Registered twins, the slow families marked."""
    return [pytest.param(n, marks=pytest.mark.slow) if model_info(n).family in SLOW_FAMILIES else n for n in TWINS]


def test_every_torchvision_family_has_a_twin() -> None:
    names = {model_info(n).torchvision_name for n in TWINS}
    assert {"alexnet", "googlenet", "vgg11", "vgg16_bn", "vgg19_bn"} <= names


@pytest.mark.parametrize("name", _cases())
def test_twin_matches_torchvision(name: str) -> None:
    info = model_info(name)
    torch.manual_seed(0)
    theirs = _calibrate_batch_norm(_torchvision_model(info.torchvision_name))
    with torch.device("meta"):  # ours gets torchvision's tensors below, so skip initialising 100M+ weights
        ours = info.builder(num_classes=info.num_classes).eval()
    assert _shapes(ours) == _shapes(theirs)
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    side = 224 if name in FULL_SIZE else 64
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert got.shape == expected.shape == (2, info.num_classes)
    assert (expected[0] - expected[1]).abs().max() > 1e-3  # outputs must depend on the input to prove anything
    assert (got - expected).abs().max().item() <= 1e-4


def test_googlenet_transform_input_matches_torchvision() -> None:
    torch.manual_seed(0)
    theirs = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True, transform_input=True)
    theirs = _calibrate_batch_norm(theirs)
    ours = model_info("googlenet").builder(num_classes=1000).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        untransformed = ours(x)
        model_info("googlenet").weights.after_load(ours)  # what loading torchvision's weights does
        expected, got = theirs(x), ours(x)
    assert (got - untransformed).abs().max().item() > 1e-3
    assert (got - expected).abs().max().item() <= 1e-4
