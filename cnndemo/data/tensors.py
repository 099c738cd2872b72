"""Image data sets held as uint8 tensors, and a batch loader that augments and normalises whole batches."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class TensorData:
    """A decoded image data set: uint8 images (N, C, H, W), int64 labels (N,) and the class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError("images must be a uint8 tensor (N, C, H, W)")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("need exactly one label per image")

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, index: torch.Tensor) -> TensorData:
        """The images at the given indices, same classes."""
        return TensorData(self.images[index], self.labels[index], self.classes, self.name)


def per_class_subset(data: TensorData, n: int | None) -> TensorData:
    """The first n images of each class, in data-set order (a fixed, reproducible subset)."""
    if n is None:
        return data
    keep = torch.cat([torch.nonzero(data.labels == c).flatten()[:n] for c in range(len(data.classes))])
    return data.subset(keep.sort().values)


def split_holdout(data: TensorData, fraction: float, seed: int = 0) -> tuple[TensorData, TensorData]:
    """A stratified random split into (train, held-out); every class keeps at least one image on each side."""
    g = torch.Generator().manual_seed(seed)
    train_idx, test_idx = [], []
    for c in range(len(data.classes)):
        idx = torch.nonzero(data.labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = min(max(1, round(len(idx) * fraction)), len(idx) - 1)
        test_idx.append(idx[:k])
        train_idx.append(idx[k:])
    return data.subset(torch.cat(train_idx).sort().values), data.subset(torch.cat(test_idx).sort().values)


def random_crop_flip(x: torch.Tensor, pad: int, flip: bool, g: torch.Generator | None) -> torch.Tensor:
    """Per-image random crop after zero padding, and random horizontal flips, done for the batch at once."""
    b, _, h, w = x.shape
    dev = x.device
    if pad:
        xp = F.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (b, 1), generator=g).to(dev)
        ox = torch.randint(0, 2 * pad + 1, (b, 1), generator=g).to(dev)
        rows = (oy + torch.arange(h, device=dev))[:, :, None]  # (B, H, 1)
        cols = (ox + torch.arange(w, device=dev))[:, None, :]  # (B, 1, W)
        x = xp[torch.arange(b, device=dev)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if flip:
        mask = (torch.rand(b, generator=g) < 0.5).to(dev)[:, None, None, None]
        x = torch.where(mask, x.flip(3), x)
    return x


@dataclass(frozen=True)
class BatchSpec:
    """How raw uint8 images become model input: target (C, H, W), normalisation and augmentation."""

    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_pad: int = 0
    flip: bool = False


def to_input(x: torch.Tensor, spec: BatchSpec) -> torch.Tensor:
    """uint8 (B, C, H, W) -> normalised float at the model's channels and size."""
    c, h, w = spec.input_size
    x = x.float().div_(255)
    if x.shape[1] != c:  # grey <-> colour, so any model can read any data set
        x = x.mean(1, keepdim=True).expand(-1, c, -1, -1) if c in (1, 3) else x
    if tuple(x.shape[2:]) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(spec.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


class Batches:
    """Iterates (inputs, labels, indices) over a TensorData in batches, on the given device, no worker processes."""

    def __init__(self, data: TensorData, spec: BatchSpec, batch_size: int, *, train: bool = False,
                 device: str | torch.device = "cpu", seed: int = 0, rank: int = 0, world: int = 1) -> None:
        self.data, self.spec, self.batch_size, self.train = data, spec, batch_size, train
        self.device = torch.device(device)
        self.images = data.images.to(self.device)  # kept on the device once, not copied per batch
        self.labels = data.labels.to(self.device)
        self.g = torch.Generator().manual_seed(seed)
        self.rank, self.world = rank, world

    def _order(self) -> torch.Tensor:
        """This rank's share of the (shuffled when training) indices; equal share per rank."""
        n = len(self.data)
        order = torch.randperm(n, generator=self.g) if self.train else torch.arange(n)
        per_rank = n // self.world if self.world > 1 else n
        return order[self.rank * per_rank:(self.rank + 1) * per_rank] if self.world > 1 else order

    def __len__(self) -> int:
        return math.ceil(len(self.data) // max(self.world, 1) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = self._order()
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            dev_idx = idx.to(self.device)
            x = self.images[dev_idx]
            if self.train and (self.spec.crop_pad or self.spec.flip):
                x = random_crop_flip(x, self.spec.crop_pad, self.spec.flip, self.g)
            yield to_input(x, self.spec), self.labels[dev_idx], idx
