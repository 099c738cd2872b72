"""Results kept for the server's life: a bounded, least-recently-used store shared by every session, built once per
key even when several students ask at the same moment, and a cheap key for a model's weights."""
from __future__ import annotations

import copy
import threading
import weakref
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

import torch
import torch.nn as nn

from cnndemo.explain.guard import HOOK_DICTS

T = TypeVar("T")


class Kept(Generic[T]):
    """At most max_items results by key; the least recently used goes first. A key names everything the result
    depends on (model weights, layer, pictures, settings), so one session never gets another's different result."""

    def __init__(self, max_items: int) -> None:
        """An empty store of at most max_items results."""
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.max_items = max_items
        self.builds = 0  # results computed so far (the rest were read)
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many results are kept."""
        return len(self._items)

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The result kept under key, or build() kept under it (one build per key at a time)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            build_lock = self._building.setdefault(key, threading.Lock())
        with build_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            result = build()  # a failure keeps nothing: the next request tries again
            self._keep(key, result)
            return result

    def _keep(self, key: Hashable, result: T) -> None:
        """Store a result, dropping the least recently used beyond max_items."""
        with self._lock:
            self._items[key] = result
            self._building.pop(key, None)
            self.builds += 1
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)


_WEIGHTS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, ...], str]] = weakref.WeakKeyDictionary()
_WEIGHTS_LOCK = threading.Lock()


def weights_key(model: nn.Module) -> str:
    """A hash of every weight and buffer of model, recomputed only after one of them changed in place (torch
    counts in-place changes per tensor), so a lookup costs microseconds and retrained weights never match."""
    from cnndemo.train.features import model_fingerprint  # the project's one weights hash

    versions = tuple(t._version for t in (*model.parameters(), *model.buffers()))
    with _WEIGHTS_LOCK:
        known = _WEIGHTS.get(model)
    if known is not None and known[0] == versions:
        return known[1]
    digest = model_fingerprint(model, nn.Identity())  # an empty head: nothing is left out of the hash
    with _WEIGHTS_LOCK:
        _WEIGHTS[model] = (versions, digest)
    return digest


def first_tensor(value: object) -> torch.Tensor | None:
    """The tensor a layer returned (the first one of a tuple)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((t for t in value if isinstance(t, torch.Tensor)), None)
    return None


def private_copy(model: nn.Module) -> nn.Module:
    """A copy of a shared model for one long pass, without the hooks other requests may have on it right now:
    the pass's hooks never fire in another student's forward, and theirs never in the pass."""
    twin = copy.deepcopy(model)
    for module in twin.modules():
        for name in HOOK_DICTS:
            getattr(module, name, {}).clear()
    return twin
