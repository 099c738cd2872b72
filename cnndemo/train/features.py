"""Frozen features for a linear probe: the head's inputs computed once, and batches over them."""
from __future__ import annotations

import math
import threading

import torch
import torch.nn as nn

from .device import autocast
from .evaluate import logits_of


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


@torch.no_grad()
def head_inputs(model: nn.Module, head: nn.Module, batches, amp: bool, stop: threading.Event | None,
                channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor] | None:
    """What the head sees for every image (one frozen forward pass each); None if head(x) != model(x)."""
    seen: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().float()))
    ys, first = [], None
    try:
        for x, y, _ in batches:
            if stop is not None and stop.is_set():
                return None
            if channels_last and x.dim() == 4:  # 1.6x faster frozen convolutions on the CPU here too
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(x.device, amp):
                out = logits_of(model(x)).float()
            first = out if first is None else first
            ys.append(y)
    finally:
        hook.remove()
    with autocast(first.device if first is not None else torch.device("cpu"), amp):
        same = bool(seen) and torch.allclose(head(seen[0]).float(), first, atol=2e-2, rtol=2e-2)
    if not same:
        return None
    return torch.cat(seen), torch.cat(ys)
