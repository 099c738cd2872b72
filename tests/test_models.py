"""Registry-wide model tests: every registered architecture builds, trains a step, and has valid metadata."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from cnndemo.models import WeightsKind, get_model, list_models, model_info, register, resolve_layer
from cnndemo.models.googlenet import GoogLeNetOutputs

DATASETS = {"imagenet", "cifar10", "mnist", "fashion_mnist"}
# the seed printouts and the AlexNet table are checked in tests/test_layertable.py


def _meta_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model on the meta device: shapes only, no memory, no init cost."""
    info = model_info(name)
    with torch.device("meta"):
        return info.builder(num_classes=kwargs.get("num_classes", info.num_classes))


def _n_params(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())


def _heavy(name: str) -> bool:
    """ImageNet-size models big enough (> 15M parameters) to take seconds per build and step on a CPU."""
    return model_info(name).dataset == "imagenet" and _n_params(_meta_model(name)) > 15_000_000


def _params(names: list[str]) -> list:
    """Test parameters with heavy models marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if _heavy(n) else n for n in names]


def _loss(out: torch.Tensor | tuple, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, cross-entropy summed over the main and any auxiliary outputs)."""
    if isinstance(out, tuple):
        return out[0], sum(F.cross_entropy(o, target) for o in out if o is not None)
    return out, F.cross_entropy(out, target)


@pytest.mark.parametrize("name", _params(list_models()))
def test_train_step_reaches_every_parameter(name: str) -> None:
    info = model_info(name)
    torch.manual_seed(0)
    model = info.builder(num_classes=info.num_classes).train()
    logits, loss = _loss(model(torch.randn(2, *info.input_size)), torch.tensor([0, 1]))
    assert logits.shape == (2, info.num_classes)
    assert torch.isfinite(logits).all()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reaches {missing[:5]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradient in {bad[:5]}"


@pytest.mark.parametrize("name", list_models())
def test_get_model_resizes_head(name: str) -> None:
    info = model_info(name)
    with torch.device("meta"):  # shapes propagate exactly on meta tensors, without building real weights
        model = get_model(name, num_classes=3)
        out = model(torch.empty(1, *info.input_size))
    assert not model.training
    assert isinstance(out, torch.Tensor) and out.shape == (1, 3)


@pytest.mark.parametrize("name", list_models())
def test_named_layers_resolve(name: str) -> None:
    info = model_info(name)
    model = _meta_model(name)
    for layer in (info.cam_layer, info.head_layer, *info.feature_layers):
        resolve_layer(model, layer)
    head = resolve_layer(model, info.head_layer)
    assert isinstance(head, (nn.Linear, nn.Conv2d))
    assert (head.out_features if isinstance(head, nn.Linear) else head.out_channels) == info.num_classes
    assert 1 <= len(info.feature_layers) <= 6 and info.cam_layer


@pytest.mark.parametrize("name", list_models())
def test_metadata_is_consistent(name: str) -> None:
    info = model_info(name)
    assert info.name == name and info.dataset in DATASETS and isinstance(info.weights.kind, WeightsKind)
    assert len(info.mean) == len(info.std) == info.channels and all(s > 0 for s in info.std)
    assert len(set(info.classes)) == info.num_classes >= 2
    assert info.note.strip() and info.family
    assert info.torchvision_name is None or info.dataset == "imagenet"
    assert (info.weights.kind is WeightsKind.TORCHVISION) <= (info.torchvision_name is not None)


@pytest.mark.parametrize("name", [n for n in list_models() if model_info(n).torchvision_name])
def test_imagenet_parameter_count_equals_torchvision(name: str) -> None:
    info = model_info(name)
    kwargs = {"aux_logits": True, "init_weights": True} if info.torchvision_name == "googlenet" else {}
    with torch.device("meta"):
        theirs = torchvision.models.get_model(info.torchvision_name, weights=None, **kwargs)
    assert _n_params(_meta_model(name)) == _n_params(theirs)


def test_seed_parameter_counts() -> None:
    assert _n_params(_meta_model("lenet5")) == 62_006  # seed 000
    assert _n_params(_meta_model("alexnet", num_classes=10)) == 57_044_810  # seed 002's summary table


@pytest.mark.parametrize("name", ["lenet5_mnist", "lenet5_fashion"])
def test_lenet_28px_forms_keep_400_features(name: str) -> None:
    model = get_model(name)
    assert model.cn1.padding == (2, 2) and model.fc1.in_features == 400
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.parametrize("name", ["mnist_cnn", "mnist_inception"])
def test_mnist_nets_return_logits_not_log_probabilities(name: str) -> None:
    torch.manual_seed(0)
    out = get_model(name)(torch.randn(4, 1, 28, 28))
    # log_softmax output would have logsumexp == 0 in every row
    assert not torch.allclose(torch.logsumexp(out, 1), torch.zeros(4), atol=1e-3)


@pytest.mark.parametrize("name", [n for n in list_models() if model_info(n).family == "VGG"])
def test_vgg_feature_layers_end_each_stage(name: str) -> None:
    info = model_info(name)
    features = list(_meta_model(name).features)
    assert len(info.feature_layers) == 5 and info.cam_layer == info.feature_layers[-1]
    for layer in info.feature_layers:
        index = int(layer.split(".")[1])
        assert isinstance(features[index], nn.ReLU) and isinstance(features[index + 1], nn.MaxPool2d)


def test_relu_modules_are_not_inplace() -> None:
    # guided backprop and forward hooks need the activations they see left untouched
    for name in ["alexnet", "alexnet_cifar", "vgg11_bn", "googlenet", "googlenet_cifar", "mnist_inception"]:
        relus = [m for m in _meta_model(name).modules() if isinstance(m, nn.ReLU)]
        assert relus and not any(m.inplace for m in relus), name


@pytest.mark.parametrize("name,size", [("googlenet_cifar", 32), ("googlenet", 64)])
def test_googlenet_aux_heads_only_in_training(name: str, size: int) -> None:
    model = get_model(name)
    assert getattr(model, "transform_input", False) is False
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        assert isinstance(model(x), torch.Tensor)
        out = model.train()(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert all(o.shape == (2, model_info(name).num_classes) for o in out)


def test_registering_a_duplicate_name_raises() -> None:
    before = model_info("lenet5")
    meta = {k: getattr(before, k) for k in before.__dataclass_fields__ if k != "builder"}
    with pytest.raises(ValueError, match="lenet5"):
        register(**meta)(lambda *, num_classes: nn.Linear(1, num_classes))
    assert model_info("lenet5").builder is before.builder


def test_unknown_model_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="lenet5") as err:
        model_info("lenet6")
    assert "mnist_cnn" in str(err.value)


def test_unknown_layer_name_lists_valid_layers() -> None:
    with pytest.raises(ValueError, match="cn2"):
        resolve_layer(get_model("lenet5"), "cn3")


def test_list_models_filters_by_dataset() -> None:
    mnist = list_models("mnist")
    assert {"lenet5_mnist", "mnist_cnn", "mnist_inception"} <= set(mnist)
    assert all(model_info(n).dataset == "mnist" for n in mnist)
