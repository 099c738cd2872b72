"""Frozen features for a linear probe: the head's inputs, computed once per picture and kept by picture content."""
from __future__ import annotations

import hashlib
import itertools
import math
import threading
from collections import OrderedDict

import torch
import torch.nn as nn

from ..data import BatchSpec, to_input
from .device import autocast, uses_bf16
from ..models import logits_of


class FeatureBatches:
    """(features, labels, indices) batches from precomputed tensors: what a linear probe trains on."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, classes: tuple[str, ...], batch_size: int,
                 train: bool, seed: int) -> None:
        self.x, self.y, self.classes, self.batch_size, self.train = x, y, classes, batch_size, train
        self.g = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.y), generator=self.g) if self.train else torch.arange(len(self.y))
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            dev = idx.to(self.x.device)
            yield self.x[dev], self.y[dev], idx


class FeatureCache:
    """What a frozen model's head sees for each picture, kept by picture content, so that training again after
    pictures were added runs the frozen model over the new pictures only.

    A key is (model fingerprint, input format, precision, picture hash): another model, checkpoint, size or
    precision never reuses the wrong features. Beyond max_entries the least recently used go first.
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self.forwards = 0  # pictures pushed through a frozen model so far
        self._store: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._store)

    def features(self, model: nn.Module, head: nn.Module, images: torch.Tensor, spec: BatchSpec, *,
                 device: torch.device, amp: bool = False, nhwc: bool = False, batch_size: int = 256,
                 stop: threading.Event | None = None) -> torch.Tensor | None:
        """(N, D) head inputs of uint8 (N, C, H, W) pictures on device; None if stopped, or if the head is not the
        model's last step (then features cannot stand in for the model)."""
        key = (model_fingerprint(model, head), spec.input_size, spec.mean, spec.std, uses_bf16(device, amp))
        digests = picture_digests(images)
        with self._lock:
            found = {d: self._store[(key, d)] for d in digests if (key, d) in self._store}
        todo = [i for i, d in enumerate(digests) if d not in found]
        if todo:
            new = head_inputs(model, head, images[todo], spec, device, amp, nhwc, batch_size, stop)
            if new is None:
                return None
            self.forwards += len(todo)
            found.update(zip((digests[i] for i in todo), new.cpu()))
            self._keep(key, {digests[i]: found[digests[i]] for i in todo})
        return torch.stack([found[d] for d in digests]).to(device)

    def _keep(self, key: tuple, entries: dict[str, torch.Tensor]) -> None:
        """Store new entries, dropping the least recently used beyond max_entries."""
        with self._lock:
            for digest, value in entries.items():
                self._store[(key, digest)] = value
            while len(self._store) > self.max_entries:
                self._store.popitem(last=False)


def picture_digests(images: torch.Tensor) -> list[str]:
    """A content hash per uint8 picture (its shape and pixels): the same picture always gets the same one."""
    flat = images.detach().cpu().contiguous()
    return [hashlib.blake2b(str(tuple(im.shape)).encode() + im.numpy().tobytes(), digest_size=16).hexdigest()
            for im in flat]


def model_fingerprint(model: nn.Module, head: nn.Module) -> str:
    """A hash of every weight and buffer outside the head (the head is new each run; the rest decides features)."""
    in_head = {id(t) for t in itertools.chain(head.parameters(), head.buffers())}
    h = hashlib.blake2b(type(model).__qualname__.encode(), digest_size=16)
    for name, t in itertools.chain(model.named_parameters(), model.named_buffers()):
        if id(t) not in in_head:
            h.update(name.encode())
            h.update(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy())
    return h.hexdigest()


@torch.no_grad()
def head_inputs(model: nn.Module, head: nn.Module, images: torch.Tensor, spec: BatchSpec, device: torch.device,
                amp: bool, nhwc: bool, batch_size: int, stop: threading.Event | None) -> torch.Tensor | None:
    """What the head sees for each picture (one frozen forward each); None if stopped or head(x) != model(x)."""
    seen: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().float()))
    first = None
    try:
        for i in range(0, len(images), batch_size):
            if stop is not None and stop.is_set():
                return None
            x = to_input(images[i:i + batch_size].to(device), spec)
            if nhwc:  # 1.6x faster frozen convolutions on the CPU here too
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp):
                out = logits_of(model(x)).float()
            first = out if first is None else first
    finally:
        hook.remove()
    with autocast(device, amp):
        same = bool(seen) and torch.allclose(head(seen[0]).float(), first, atol=2e-2, rtol=2e-2)
    return torch.cat(seen) if same else None
