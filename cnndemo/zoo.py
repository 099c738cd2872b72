"""The models a running app offers: the registry plus runs trained in this server, each with the best weights here,
grouped for pickers by readiness (ready here, downloads on first use, untrained).

A run belongs to the session that trained it (its owner): a session's pickers and defaults list its own runs and
the registry, never another session's runs. Only a model that got its trained weights has an accuracy to show."""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

import torch.nn as nn

from .errors import BadInputError, WeightsUnavailableError
from .models import ModelInfo, get_model, list_models, load_checkpoint, model_info
from .models.download import Progress
from .models.weights import CheckpointFile, Readiness, WeightsKind

RUN_PREFIX = "run: "
ORDER = (Readiness.READY, Readiness.DOWNLOAD, Readiness.UNTRAINED)


@dataclass(frozen=True)
class WeightsState:
    """Whether a model carries trained weights, and a line saying where they came from."""

    trained: bool
    status: str
    problem: str = ""  # one sentence when loading should have given trained weights and did not (e.g. offline)


@dataclass(frozen=True)
class ZooEntry:
    """One model as a picker offers it."""

    name: str
    readiness: Readiness
    label: str  # e.g. "efficientnet_lite0 — ImageNet, ready"


class Zoo:
    """Registry models plus this server's trained runs; loads each with the weights available right now."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[Path, ModelInfo, str | None]] = {}  # name -> (checkpoint, info, owner)
        self._states: dict[str, WeightsState] = {}
        self._lock = threading.Lock()

    def names(self, owner: str | None = None) -> list[str]:
        """Every model owner (a session) can pick: its own trained runs first, then the registry."""
        with self._lock:
            return [n for n, run in self._runs.items() if run[2] == owner] + list_models()

    def add_run(self, checkpoint: str | Path, label: str, owner: str | None = None) -> str:
        """Offer a checkpoint trained in this server under the name 'run: <label>', to owner's pickers only."""
        name = RUN_PREFIX + label
        _, info = _run_model(name, Path(checkpoint))  # refuses a bad checkpoint before it is offered
        with self._lock:
            self._runs[name] = (Path(checkpoint), info, owner)
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
        return WeightsState(model_info(name).weights.is_here(), model_info(name).weights.status())

    def readiness(self, name: str) -> Readiness:
        """Ready, download or untrained, from the weights spec (and what an earlier load found out)."""
        with self._lock:
            known = self._states.get(name)
        if known is not None:  # e.g. a download that failed offline: the model is untrained here
            return Readiness.READY if known.trained else Readiness.UNTRAINED
        return self.info(name).weights.readiness()

    def grouped(self, owner: str | None = None) -> list[ZooEntry]:
        """Every model for owner's picker: ready here first, then downloads on first use, then untrained."""
        entries = [ZooEntry(n, r, picker_label(n, self.info(n), r, self.accuracy(n)))
                   for n in self.names(owner) for r in [self.readiness(n)]]
        return sorted(entries, key=lambda e: ORDER.index(e.readiness))  # stable: runs, then registry order

    def choices(self, owner: str | None = None) -> list[tuple[str, str]]:
        """(label, name) pairs in picker order for owner (a session), as gradio's Dropdown takes them."""
        return [(e.label, e.name) for e in self.grouped(owner)]

    def accuracy(self, name: str) -> float | None:
        """The test accuracy (0..1) name's weights recorded, only when they are here or were loaded; None for
        a model that has not got them (untrained, not downloaded yet, or a download that failed)."""
        if self.readiness(name) is not Readiness.READY:
            return None
        recorded = self.info(name).weights.metrics()
        return recorded.test_acc if recorded else None

    def problem(self, name: str) -> str:
        """One sentence when loading name failed to get the trained weights it should have had (a failed or
        impossible download, a damaged file); '' otherwise."""
        return self.state(name).problem

    def best(self, dataset: str) -> str | None:
        """The registry model with trained weights here for dataset that recorded the best test accuracy (a
        session's runs are used only when picked), or None when there is none."""
        scored = [(self.accuracy(n) or 0.0, n) for n in list_models()
                  if self.info(n).dataset == dataset and self.readiness(n) is Readiness.READY]
        return max(scored, key=lambda s: s[0])[1] if scored else None

    def load(self, name: str, progress: Progress | None = None) -> tuple[nn.Module, ModelInfo]:
        """Build name with its best available weights; offline without weights it stays untrained, and says so.
        progress hears about a download of torchvision weights."""
        with self._lock:
            run = self._runs.get(name)
        if run is not None:
            return _run_model(name, run[0])
        info = registry_info(name)
        if info.weights.kind is WeightsKind.NONE:
            return get_model(name), info
        try:
            model = get_model(name, weights="default", progress=progress)
            self._remember(name, WeightsState(True, info.weights.status()))
        except (WeightsUnavailableError, BadInputError) as err:
            model = get_model(name)
            expected = info.weights.readiness() is not Readiness.UNTRAINED  # weights were here or downloadable
            problem = f"{name} runs with random weights: {str(err).rstrip('.')}." if expected else ""
            self._remember(name, WeightsState(False, f"untrained (random weights): {err}", problem))
        return model, info

    def _remember(self, name: str, state: WeightsState) -> None:
        """Keep what loading found out (e.g. a failed download) so the UI can say it."""
        with self._lock:
            self._states[name] = state


def picker_label(name: str, info: ModelInfo, readiness: Readiness, accuracy: float | None = None) -> str:
    """A short dropdown label: 'resnet18_cifar — CIFAR-10, ready (89.2 %)', 'resnet50 — ImageNet, downloads
    97.8 MB', 'vgg11_cifar — untrained, shapes only' (accuracy: Zoo.accuracy, shown only when ready)."""
    spec = info.weights
    if readiness is Readiness.UNTRAINED:
        return f"{name} — untrained, shapes only"
    if readiness is Readiness.DOWNLOAD:
        return f"{name} — {spec.dataset_label}, downloads {spec.download_mb:.1f} MB"
    score = f" ({accuracy * 100:.1f} %)" if accuracy else ""
    return f"{name} — {spec.dataset_label}, ready{score}"


def registry_info(name: str) -> ModelInfo:
    """A registry model's metadata, fed at the size its shipped checkpoint was trained and tested at."""
    info = model_info(name)
    size = info.weights.tested_size()
    return info if size is None else replace(info, weights=replace(info.weights, input_size=size))


def _run_model(name: str, path: Path) -> tuple[nn.Module, ModelInfo]:
    """A trained run's model and metadata (name, classes, normalisation, input size, data set from its sidecar)."""
    model, meta = load_checkpoint(path)
    base = model_info(meta["arch"])
    spec = replace(base.weights, source=CheckpointFile(path), state_hook=None, after_load=None,
                   classes=tuple(meta.get("classes") or base.classes), mean=tuple(meta.get("mean") or base.mean),
                   std=tuple(meta.get("std") or base.std), dataset=meta.get("dataset") or base.dataset,
                   input_size=tuple(meta.get("input_size") or base.input_size))
    return model, replace(base, name=name, weights=spec)
