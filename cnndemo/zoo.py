"""The models a running app offers: the registry plus runs trained in this server, each with the best weights here."""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

import torch.nn as nn

from .errors import BadInputError, WeightsUnavailableError
from .models import get_model, list_models, model_info
from .models._registry import ModelInfo
from .models.weights import has_weights, load_checkpoint, shipped_input_size, weights_status

RUN_PREFIX = "run: "


@dataclass(frozen=True)
class WeightsState:
    """Whether a model carries trained weights, and a line saying where they came from."""

    trained: bool
    status: str


class Zoo:
    """Registry models plus this server's trained runs; loads each with the weights available right now."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[Path, ModelInfo]] = {}
        self._states: dict[str, WeightsState] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Every model a user can pick: trained runs first, then the registry."""
        with self._lock:
            return list(self._runs) + list_models()

    def add_run(self, checkpoint: str | Path, label: str) -> str:
        """Offer a checkpoint trained in this server under the name 'run: <label>'."""
        name = RUN_PREFIX + label
        _, info = _run_model(name, Path(checkpoint))  # refuses a bad checkpoint before it is offered
        with self._lock:
            self._runs[name] = (Path(checkpoint), info)
        return name

    def info(self, name: str) -> ModelInfo:
        """The metadata of a registry model or a trained run (its classes and normalisation from the sidecar)."""
        with self._lock:
            run = self._runs.get(name)
        return registry_info(name) if run is None else run[1]

    def state(self, name: str) -> WeightsState:
        """Whether name has trained weights here (known without loading it)."""
        with self._lock:
            if name in self._states:
                return self._states[name]
            if name in self._runs:
                return WeightsState(True, f"trained in this session: {self._runs[name][0].name}")
        return WeightsState(has_weights(name), weights_status(name))

    def load(self, name: str) -> tuple[nn.Module, ModelInfo]:
        """Build name with its best available weights; offline without weights it stays untrained, and says so."""
        with self._lock:
            run = self._runs.get(name)
        if run is not None:
            return _run_model(name, run[0])
        info = registry_info(name)
        if info.pretrained is None:
            return get_model(name), info
        try:
            model = get_model(name, weights="default")
            self._remember(name, WeightsState(True, weights_status(name)))
        except (WeightsUnavailableError, BadInputError) as err:
            model = get_model(name)
            self._remember(name, WeightsState(False, f"untrained (random weights): {err}"))
        return model, info

    def _remember(self, name: str, state: WeightsState) -> None:
        """Keep what loading found out (e.g. a failed download) so the UI can say it."""
        with self._lock:
            self._states[name] = state


def registry_info(name: str) -> ModelInfo:
    """A registry model's metadata, fed at the size its shipped checkpoint was trained and tested at."""
    info = model_info(name)
    size = shipped_input_size(info)
    return info if size is None else replace(info, input_size=size)


def _run_model(name: str, path: Path) -> tuple[nn.Module, ModelInfo]:
    """A trained run's model and metadata (name, classes, normalisation from its sidecar)."""
    model, meta = load_checkpoint(path)
    base = model_info(meta["arch"])
    info = replace(base, name=name, classes=tuple(meta.get("classes") or base.classes),
                   mean=tuple(meta.get("mean") or base.mean), std=tuple(meta.get("std") or base.std),
                   input_size=tuple(meta.get("input_size") or base.input_size))
    return model, info
