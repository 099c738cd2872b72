"""The app's model list: sizes from the shipped checkpoints, and pickers ordered by readiness derived from the specs."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from cnndemo import catalog, checkpoints
from cnndemo.models import Readiness, WeightsSpec, download, get_model, list_models, model_info, register, registry
from cnndemo.models import weights as weights_module
from cnndemo.models.weights import SHIPPED
from cnndemo.zoo import Zoo


def test_shipped_checkpoint_trained_at_another_size_sets_the_input_size(tmp_path, monkeypatch):
    monkeypatch.setattr("cnndemo.models.weights.SHIPPED_DIR", tmp_path)
    assert Zoo().info("mnist_cnn").input_size == model_info("mnist_cnn").input_size == (1, 28, 28)
    torch.manual_seed(0)
    checkpoints.save(get_model("mnist_cnn"), tmp_path / "mnist_cnn", {"arch": "mnist_cnn", "input_size": [1, 20, 20]})
    zoo = Zoo()
    model, info = zoo.load("mnist_cnn")
    assert info.input_size == zoo.info("mnist_cnn").input_size == (1, 20, 20)
    assert zoo.state("mnist_cnn").trained and model_info("mnist_cnn").input_size == (1, 28, 28)


def test_a_checkpoint_at_the_registry_size_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("cnndemo.models.weights.SHIPPED_DIR", tmp_path)
    checkpoints.save(get_model("mnist_cnn"), tmp_path / "mnist_cnn", {"arch": "mnist_cnn", "input_size": [1, 28, 28]})
    assert Zoo().info("mnist_cnn") == model_info("mnist_cnn")


class Tiny(nn.Module):
    """A throwaway 1x28x28 classifier."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean(dim=(2, 3)))


@pytest.fixture
def throwaway(tmp_path, monkeypatch):
    """Two models registered for this test only: one with a shipped checkpoint (written here), one without weights."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # the registry is restored afterwards
    monkeypatch.setattr("cnndemo.models.weights.SHIPPED_DIR", tmp_path)
    layers = dict(family="Test", cam_layer="conv", feature_layers=("conv",), head_layer="fc", note="throwaway")
    register(name="zz_trained", weights=WeightsSpec.of(catalog.MNIST, SHIPPED), **layers)(Tiny)
    register(name="aa_untrained", weights=WeightsSpec.of(catalog.MNIST), **layers)(Tiny)
    checkpoints.save(Tiny(), tmp_path / "zz_trained", {"arch": "zz_trained", "metrics": {"test_acc": 0.5}})
    return tmp_path


def _place(zoo: Zoo, name: str) -> tuple[int, Readiness, str]:
    """(position, readiness, label) of name in the picker."""
    entries = zoo.grouped()
    i = [e.name for e in entries].index(name)
    return i, entries[i].readiness, entries[i].label


def test_picker_order_is_derived_from_the_specs(throwaway):
    zoo = Zoo()
    trained, untrained = _place(zoo, "zz_trained"), _place(zoo, "aa_untrained")
    assert trained[1:] == (Readiness.READY, "zz_trained — MNIST, ready (50.0 %)")
    assert untrained[1:] == (Readiness.UNTRAINED, "aa_untrained — untrained, shapes only")
    assert trained[0] < untrained[0]  # despite the names' alphabetical order
    order = [e.readiness for e in zoo.grouped()]
    assert order == sorted(order, key=[Readiness.READY, Readiness.DOWNLOAD, Readiness.UNTRAINED].index)
    assert zoo.choices()[trained[0]] == (trained[2], "zz_trained")
    (throwaway / "zz_trained.safetensors").unlink()  # the checkpoint is gone: the model is untrained now
    assert _place(Zoo(), "zz_trained")[1] is Readiness.UNTRAINED


@pytest.fixture
def empty_hub(tmp_path):
    """An empty torch hub cache; the previous hub directory is restored afterwards."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield
    torch.hub.set_dir(old)


def test_torchvision_weights_download_with_their_size_unless_cached(empty_hub):
    weights = model_info("resnet50").weights
    assert _place(Zoo(), "resnet50")[1:] == (Readiness.DOWNLOAD,
                                             f"resnet50 — ImageNet, downloads {weights.download_mb:.1f} MB")
    cached = weights.source.file()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")  # present in the cache: ready (loading would check it)
    assert _place(Zoo(), "resnet50")[1] is Readiness.READY


def test_a_failed_download_moves_a_model_to_untrained(empty_hub, monkeypatch):
    def offline(url: str) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(download, "_probe", offline)
    zoo = Zoo()
    assert zoo.readiness("resnet18") is Readiness.DOWNLOAD
    zoo.load("resnet18")
    assert zoo.readiness("resnet18") is Readiness.UNTRAINED and not zoo.state("resnet18").trained
    assert "not on this computer" in zoo.state("resnet18").status


def test_a_run_trained_here_is_ready_first(tmp_path):
    torch.manual_seed(1)
    path = checkpoints.save(get_model("mnist_cnn"), tmp_path / "digits",
                            {"arch": "mnist_cnn", "classes": [str(d) for d in range(10)], "dataset": "mnist",
                             "metrics": {"test_acc": 0.75}})
    zoo = Zoo()
    name = zoo.add_run(path, "digits")
    first = zoo.grouped()[0]
    assert (first.name, first.readiness) == (name, Readiness.READY)
    assert first.label == "run: digits — MNIST, ready (75.0 %)"
    assert zoo.info(name).weights.describe().startswith("knows the 10 MNIST classes")


def _digits_run(folder, test_acc: float = 0.75):
    """A checkpoint of a digits model trained 'in this server' (random weights, a recorded accuracy)."""
    torch.manual_seed(1)
    return checkpoints.save(get_model("lenet5_mnist"), folder / f"digits-{test_acc}",
                            {"arch": "lenet5_mnist", "classes": [str(d) for d in range(10)], "dataset": "mnist",
                             "metrics": {"test_acc": test_acc}})


def test_a_run_is_offered_to_the_session_that_trained_it_only(tmp_path):
    zoo = Zoo()
    name = zoo.add_run(_digits_run(tmp_path), "lenet mnist lesson #168ffa", owner="teacher")
    assert name in zoo.names("teacher") and name in [n for _, n in zoo.choices("teacher")]
    assert name not in zoo.names("student") and name not in [n for _, n in zoo.choices("student")]
    assert name not in zoo.names()  # nor in a picker built without a session
    assert zoo.state(name).trained and zoo.info(name).dataset == "mnist"  # still loadable by its name


def test_the_best_digits_model_is_the_best_shipped_one_whatever_the_runs(tmp_path):
    zoo = Zoo()
    shipped = [n for n in list_models() if model_info(n).dataset == "mnist" and zoo.state(n).trained]
    best = zoo.best("mnist")
    assert best in shipped and zoo.accuracy(best) == max(zoo.accuracy(n) for n in shipped) > 0.99
    zoo.add_run(_digits_run(tmp_path, 0.999), "better on paper", owner="teacher")
    assert zoo.best("mnist") == best  # a run is used only when picked
    assert zoo.best("no such data") is None


def test_a_model_without_its_weights_has_no_accuracy(empty_hub, monkeypatch, tmp_path):
    def offline(url: str) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(download, "_probe", offline)
    zoo = Zoo()
    assert model_info("resnet18").weights.metrics().test_acc > 0.6  # torchvision's published figure exists ...
    assert zoo.accuracy("resnet18") is None  # ... but these weights are not here yet
    zoo.load("resnet18")  # the download fails: random weights
    assert zoo.accuracy("resnet18") is None and "%" not in dict((n, lbl) for lbl, n in zoo.choices())["resnet18"]
    monkeypatch.setattr(weights_module, "SHIPPED_DIR", tmp_path)  # no shipped checkpoints at all
    assert Zoo().accuracy("resnet18_cifar") is None


def test_a_missing_checkpoints_folder_is_an_error_not_random_weights(tmp_path, monkeypatch):
    from cnndemo.errors import IncompleteInstallError
    # e.g. a wheel built without cnndemo/_checkpoints
    monkeypatch.setattr(weights_module, "SHIPPED_DIR", tmp_path / "absent")
    with pytest.raises(IncompleteInstallError, match="absent"):
        Zoo().load("resnet18_cifar")
    with pytest.raises(IncompleteInstallError):
        Zoo().choices()


def test_the_shipped_folder_is_the_installed_packages_when_there(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "cnndemo"
    (package / "models").mkdir(parents=True)
    (package / "_checkpoints").mkdir()
    monkeypatch.setattr(weights_module, "__file__", str(package / "models" / "weights.py"))
    assert weights_module._shipped_dir() == package / "_checkpoints"
    (package / "_checkpoints").rmdir()  # a checkout: checkpoints/ beside the package
    assert weights_module._shipped_dir() == tmp_path / "site-packages" / "checkpoints"
