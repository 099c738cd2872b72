"""Explainer (one per model, caches forward records) and ModelCache (lazy, bounded, thread-safe models)."""
from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from cnndemo.convmath import describe_layer
from cnndemo.errors import BadInputError

from .faithfulness import DEFAULT_STEPS, Faithfulness, chance, faithfulness
from .methods import get_method
from .record import ForwardRecord, record_forward
from .render import channel_grid, tensor_display
from .sanity import MAX_STAGES, SanityResult, sanity_check
from .settings import ExplainSettings
from .views import AttributionView, ChannelStats, CompareRow, Explanation, FeatureMapView

Loader = Callable[[str], tuple[nn.Module, Any]]
MEMO_LIMIT = 16  # heatmaps kept per record (one per class / method setting asked for)
DESCRIPTION_LIMIT = 64  # layer descriptions kept per model


class Explainer:
    """Explains one model: one hooked forward per image, kept in a small LRU, every view read from it."""

    def __init__(self, model: nn.Module, info: Any, *, max_records: int = 4) -> None:
        """model with its ModelInfo (input_size, classes, mean, std, cam_layer, feature_layers)."""
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        self.model, self.info, self.max_records = model, info, max_records
        self._records: OrderedDict[tuple[str, str], ForwardRecord] = OrderedDict()
        self._lock = threading.RLock()  # one hooked forward / backward on this model at a time
        self._descriptions: dict[tuple, str] = {}  # layer description texts (shapes differ per input size)

    def predict(self, image: Any, top_k: int = 5) -> list[tuple[str, float]]:
        """Top-k (class name, probability), most probable first."""
        return self._predictions(self.record(image), top_k)

    def feature_maps(self, image: Any, layer: str | None = None, max_channels: int | None = 32,
                     colormap: str = "viridis") -> FeatureMapView:
        """The output of layer (default: first feature layer), most active channels first (None: all of them)."""
        layer = layer or self._default_layer()
        rec = self.record(image, layers=(layer,))
        return self._feature_view(rec, layer, max_channels, colormap)

    def attribute(self, image: Any, settings: ExplainSettings = ExplainSettings(),
                  same_scale: bool = False) -> AttributionView:
        """Attribution heatmap for settings.method; Grad-CAM comes from the cached forward.
        same_scale: scale the map by the top-1 class's strongest value, so maps of several classes compare."""
        rec = self.record(image, cam_layer=settings.layer)
        return self._attribution(rec, settings, same_scale)

    def explain(self, image: Any, layer: str | None = None, settings: ExplainSettings = ExplainSettings(),
                max_channels: int = 32) -> Explanation:
        """A full request (predictions, one layer's maps, one attribution) from one forward pass."""
        layer = layer or self._default_layer()
        rec = self.record(image, cam_layer=settings.layer, layers=(layer,))
        return Explanation(self._predictions(rec, settings.top_k), self._feature_view(rec, layer, max_channels),
                           self._attribution(rec, settings))

    def faithfulness(self, image: Any, settings: ExplainSettings = ExplainSettings(),
                     steps: int = DEFAULT_STEPS) -> tuple[AttributionView, Faithfulness]:
        """The heatmap for settings and its deletion / insertion scores, from (and memoised on) the cached forward."""
        rec = self.record(image, cam_layer=settings.layer)
        view = self._attribution(rec, settings)
        key = ("faithfulness", replace(settings, target=view.target, layer=rec.cam_layer).heatmap_key(), steps)
        with self._lock:
            result = rec.memo.get(key)
            if result is None:
                result = faithfulness(self.model, rec.x, view.heatmap, view.target, steps=steps,
                                      probability=float(rec.probs[view.target]))
                _remember(rec, key, result)
        return view, result

    def chance(self, image: Any, settings: ExplainSettings = ExplainSettings(),
               steps: int = DEFAULT_STEPS) -> Faithfulness:
        """The scores of random maps for settings' class on this image (the chance level a ranking is read
        against), from (and memoised on) the cached forward."""
        rec = self.record(image, cam_layer=settings.layer)
        target = self.target_index(rec, settings.target)
        key = ("chance", target, steps)
        with self._lock:
            result = rec.memo.get(key)
            if result is None:
                result = chance(self.model, rec.x, target, steps=steps, probability=float(rec.probs[target]))
                _remember(rec, key, result)
        return result

    def rank(self, image: Any, names: list[str] | tuple[str, ...],
             settings: ExplainSettings = ExplainSettings()) -> list[tuple[str, Faithfulness, float]]:
        """(method, scores, seconds of this call) for each named method on one image and class, most faithful first
        (insertion minus deletion); maps already made for this picture are reused."""
        rows = []
        for name in names:
            start = time.perf_counter()
            _, result = self.faithfulness(image, replace(settings, method=name))
            rows.append((name, result, time.perf_counter() - start))
        return sorted(rows, key=lambda row: -row[1].score)

    def sanity(self, image: Any, settings: ExplainSettings = ExplainSettings(),
               max_stages: int = MAX_STAGES) -> SanityResult:
        """The randomisation test of settings' method and class on a private copy of the model (which stays)."""
        rec = self.record(image, cam_layer=settings.layer)
        target = self.target_index(rec, settings.target)
        with self._lock:  # no hooked explain runs on the model while it is copied
            twin = copy.deepcopy(self.model)
        return sanity_check(twin, rec.x, target, settings.method, rec.cam_layer, tuple(self.info.mean),
                            tuple(self.info.std), settings.method_options(), max_stages, copied=True)

    def record(self, image: Any, cam_layer: str | None = None, layers: tuple[str, ...] = ()) -> ForwardRecord:
        """The kept forward for this image and CAM layer, running the model only when none is cached."""
        content, make_input = self._prepare(image)
        cam_layer = cam_layer or self.info.cam_layer
        key = (content, cam_layer)
        with self._lock:
            rec = self._records.get(key)
            if rec is None or any(name not in rec.activations for name in layers):
                x, display = (rec.x, rec.display) if rec else make_input()
                rec = self._forward(x, display, key, layers, rec)
            self._records.move_to_end(key)
            return rec

    def clear(self) -> None:
        """Forget every kept forward (call after the model's weights change)."""
        with self._lock:
            self._records.clear()
            self._descriptions.clear()

    @property
    def lock(self) -> threading.RLock:
        """Hold this while other code (a summary, a weights load) touches the model, so no explain runs meanwhile."""
        return self._lock

    def __len__(self) -> int:
        """Number of kept forward records."""
        return len(self._records)

    def _forward(self, x: torch.Tensor, display: np.ndarray, key: tuple[str, str], layers: tuple[str, ...],
                 old: ForwardRecord | None) -> ForwardRecord:
        """Run the hooked forward for key (adding layers the old record lacked) and store it, evicting the oldest."""
        wanted = tuple(dict.fromkeys((*self.info.feature_layers, *(old.activations if old else ()), *layers)))
        rec = record_forward(self.model, x, wanted, key[1], key[0], display)
        missing = [name for name in layers if name not in rec.activations]
        if missing:
            raise BadInputError(f"layer {missing[0]!r} does not run for this input; pick another layer")
        self._records[key] = rec
        while len(self._records) > self.max_records:
            self._records.popitem(last=False)
        return rec

    def _prepare(self, image: Any) -> tuple[str, Callable[[], tuple[torch.Tensor, np.ndarray]]]:
        """A content key of the image, and a lazy maker of its model-input tensor and display picture."""
        if isinstance(image, torch.Tensor):
            x = self._check_tensor(image)
            return _digest(x.cpu().contiguous().numpy(), "tensor"), \
                lambda: (x, tensor_display(x, tuple(self.info.mean), tuple(self.info.std)))
        from cnndemo.images import model_input_image, open_image, seen_display, seen_tensor  # the one safe way in

        img = open_image(image)

        def make() -> tuple[torch.Tensor, np.ndarray]:
            seen = model_input_image(img, self.info)  # resized once for both the tensor and the picture
            return seen_tensor(seen, self.info).to(self._device()), seen_display(seen)

        # keyed on the decoded picture, so a repeat request skips resizing (costly for big photos)
        return _digest(np.asarray(img), img.mode), make

    def _check_tensor(self, image: torch.Tensor) -> torch.Tensor:
        """A normalised [1, C, H, W] (or [C, H, W]) tensor on the model's device, with the model's channels."""
        x = image.detach().float().to(self._device())
        x = x.unsqueeze(0) if x.dim() == 3 else x
        if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != self.info.input_size[0]:
            raise BadInputError(f"expected a tensor [1, {self.info.input_size[0]}, H, W], got {tuple(image.shape)}")
        return x

    def _device(self) -> torch.device:
        """Where the model's parameters live."""
        return next(self.model.parameters(), torch.empty(0)).device

    def _predictions(self, rec: ForwardRecord, top_k: int) -> list[tuple[str, float]]:
        """Top-k (class name, probability) of a record."""
        return [(self.class_name(i), float(rec.probs[i])) for i in rec.top(top_k)]

    def _feature_view(self, rec: ForwardRecord, layer: str, max_channels: int | None = 32,
                      colormap: str = "viridis") -> FeatureMapView:
        """Channel grid (tiles numbered by channel), stats and description of one kept activation (pure numpy)."""
        act = rec.activations[layer]
        maps = _as_maps(act[0].float().cpu().numpy())
        flat = maps.reshape(len(maps), -1)
        order = np.argsort(-flat.mean(axis=1), kind="stable")[:max(1, max_channels or len(maps))]
        shown = maps[order]  # one copy of the shown channels, for the stats and the grid
        values = shown.reshape(len(order), -1)
        means, maxes, zeros = values.mean(axis=1), values.max(axis=1), (values == 0).mean(axis=1)
        stats = tuple(ChannelStats(int(c), float(m), float(x), float(z))
                      for c, m, x, z in zip(order, means, maxes, zeros))
        description = self._description(layer, rec.input_shapes.get(layer), tuple(act.shape))
        return FeatureMapView(layer=layer, grid=channel_grid(shown, colormap, numbers=order.tolist()),
                              shape=tuple(act.shape), channels=stats, description=description,
                              total_channels=len(maps))

    def _description(self, layer: str, in_shape: tuple[int, ...] | None, out_shape: tuple[int, ...]) -> str:
        """describe_layer's text, worked out once per layer and shapes (it depends on the architecture only)."""
        key = (layer, in_shape, out_shape)
        text = self._descriptions.get(key)
        if text is None:
            text = describe_layer(self.model, layer, in_shape, out_shape)
            with self._lock:
                while len(self._descriptions) >= DESCRIPTION_LIMIT:
                    self._descriptions.pop(next(iter(self._descriptions)))
                self._descriptions[key] = text
        return text

    def _attribution(self, rec: ForwardRecord, settings: ExplainSettings, same_scale: bool = False) -> AttributionView:
        """The heatmap for settings (memoised on the record), with the record's picture it lies on."""
        target = self.target_index(rec, settings.target)
        heatmap, scale = self._heat(rec, target, settings)
        if same_scale:
            heatmap, scale, same_scale = _rescaled(heatmap, scale, self._heat(rec, rec.top(1)[0], settings)[1])
        return AttributionView(
            heatmap=heatmap, display=rec.display, opacity=settings.opacity, colormap=settings.colormap,
            method=settings.method, layer=rec.cam_layer, target=target, target_name=self.class_name(target),
            probability=float(rec.probs[target]), scale=scale, shared_scale=same_scale)

    def _heat(self, rec: ForwardRecord, target: int, settings: ExplainSettings) -> tuple[np.ndarray, float]:
        """(heatmap, raw value of its 1) for one class, memoised on the record."""
        memo_key = replace(settings, target=target, layer=rec.cam_layer).heatmap_key()
        with self._lock:
            heat = rec.memo.get(memo_key)
            if heat is None:
                heat = self._heatmap(rec, target, settings)
                _remember(rec, memo_key, heat)
        return heat

    def _heatmap(self, rec: ForwardRecord, target: int, settings: ExplainSettings) -> tuple[np.ndarray, float]:
        """Compute one heatmap: from the kept record where the method can, else by running the method on the model."""
        method, options = get_method(settings.method), settings.method_options()
        heat = method.heat_from_record(rec, target, options)
        if heat is None:
            heat = self.method(settings.method, rec.cam_layer).heat(rec.x, target, options)
        return heat

    def method(self, name: str, cam_layer: str | None = None):
        """The registered method called name, bound to this model, its CAM layer and its normalisation."""
        return get_method(name)(self.model, cam_layer or self.info.cam_layer, tuple(self.info.mean),
                                tuple(self.info.std))

    def target_index(self, rec: ForwardRecord, target: int | str | None) -> int:
        """A class index from an index, a class name or None (top-1)."""
        if target is None:
            return rec.top(1)[0]
        n = rec.probs.size
        if isinstance(target, str) and not target.strip().isdigit():
            names = [c.lower() for c in self.info.classes]
            if target.strip().lower() not in names:
                raise BadInputError(f"unknown class {target!r} for {self.info.name}")
            return names.index(target.strip().lower())
        index = int(target)
        if not 0 <= index < n:
            raise BadInputError(f"class index {index} is out of range; this model has {n} classes (0..{n - 1})")
        return index

    def class_name(self, index: int) -> str:
        """The class name of an output index."""
        classes = self.info.classes
        return classes[index] if index < len(classes) else f"class {index}"

    def _default_layer(self) -> str:
        """The layer shown when none is picked."""
        return self.info.feature_layers[0] if self.info.feature_layers else self.info.cam_layer


def _remember(rec: ForwardRecord, key: Any, value: Any) -> None:
    """Keep value on the record under key, dropping the oldest kept value past MEMO_LIMIT."""
    while len(rec.memo) >= MEMO_LIMIT:
        rec.memo.pop(next(iter(rec.memo)))
    rec.memo[key] = value


def _rescaled(heatmap: np.ndarray, scale: float, top: float) -> tuple[np.ndarray, float, bool]:
    """heatmap (whose 1 stands for scale) re-expressed so that 1 stands for top; unchanged when a scale is unknown."""
    if not (np.isfinite(scale) and np.isfinite(top) and top > 0):
        return heatmap, scale, False
    return np.clip(heatmap * np.float32(scale / top), 0.0, 1.0).astype(np.float32), top, True


def _digest(data: np.ndarray, kind: str) -> str:
    """A digest of an array's kind, shape and values: equal images share a record."""
    digest = hashlib.blake2b(np.ascontiguousarray(data).data, digest_size=16)
    digest.update(repr((kind, data.shape, data.dtype.str)).encode())
    return digest.hexdigest()


def _as_maps(act: np.ndarray) -> np.ndarray:
    """One sample's activation as N x h x w maps (vectors become N maps of 1 x 1)."""
    if act.ndim == 3:
        return act
    if act.ndim == 1:
        return act.reshape(-1, 1, 1)
    return act.reshape(act.shape[0], 1, -1)


def default_loader(name: str) -> tuple[nn.Module, Any]:
    """Build a registry model with its untrained weights (the app passes a loader that attaches weights)."""
    from cnndemo.models import get_model, model_info

    return get_model(name), model_info(name)


class ModelCache:
    """At most max_models Explainers, built lazily by loader(name) -> (model, info), least recently used dropped."""

    def __init__(self, loader: Loader = default_loader, *, max_models: int = 3, max_records: int = 4) -> None:
        """loader builds a model on first use; the cache is the only state shared between sessions."""
        if max_models < 1:
            raise ValueError("max_models must be at least 1")
        self.loader, self.max_models, self.max_records = loader, max_models, max_records
        self._explainers: OrderedDict[str, Explainer] = OrderedDict()
        self._building: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, name: str, progress: Callable[[Any], None] | None = None) -> Explainer:
        """The Explainer of model name, loading it if needed (one load per name even under concurrent calls);
        progress, when given, goes to the loader (it hears about a weights download)."""
        with self._lock:
            if name in self._explainers:
                self._explainers.move_to_end(name)
                return self._explainers[name]
            build_lock = self._building.setdefault(name, threading.Lock())
        with build_lock:
            with self._lock:
                if name in self._explainers:
                    return self._explainers[name]
            model, info = self.loader(name) if progress is None else self.loader(name, progress)
            explainer = Explainer(model, info, max_records=self.max_records)
            with self._lock:
                self._explainers[name] = explainer
                self._building.pop(name, None)
                while len(self._explainers) > self.max_models:
                    self._explainers.popitem(last=False)
            return explainer

    def names(self) -> list[str]:
        """Names of the loaded models, least recently used first."""
        with self._lock:
            return list(self._explainers)

    def clear(self) -> None:
        """Drop every loaded model."""
        with self._lock:
            self._explainers.clear()

    def drop(self, name: str) -> None:
        """Forget one model (e.g. after new weights for it were saved); the next get() loads it again."""
        with self._lock:
            self._explainers.pop(name, None)

    def compare(self, image: Any, names: list[str] | tuple[str, ...],
                settings: ExplainSettings = ExplainSettings(), target: str | None = None,
                progress: Callable[[Any], None] | None = None) -> list[CompareRow]:
        """One image through several architectures: top-3 and Grad-CAM (default layer) for each, of the class
        called target in every model that has one, else of the model's own top-1 (progress: as in get)."""
        if not isinstance(image, torch.Tensor):
            from cnndemo.images import open_image

            image = open_image(image)  # decode once; each model resizes it its own way
        settings = replace(settings, method="gradcam", layer=None, target=None)
        rows = []
        for name in names:
            explainer = self.get(name, progress)
            known = bool(target) and target.strip().lower() in (c.lower() for c in explainer.info.classes)
            attribution = explainer.attribute(image, replace(settings, target=target if known else None))
            rows.append(CompareRow(name, explainer.predict(image, 3), attribution))
        return rows
