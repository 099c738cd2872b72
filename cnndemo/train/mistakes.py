"""Mistakes: which test pictures sit in a confusion-matrix cell (true class -> predicted class), for any model
and test split: a class-builder set's, an archive's or a built-in data set's."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..data import BatchSpec, Batches, TensorData
from ..errors import BadInputError
from .device import autocast, pick_device
from ..models import logits_of
from .evaluate import checkpoint_spec, checkpoint_test_split


@dataclass(frozen=True)
class Cell:
    """The test pictures of one confusion-matrix cell: indices into `test`, in test order."""

    true_class: str
    predicted_class: str
    indices: tuple[int, ...]
    test: TensorData

    def images(self) -> torch.Tensor:
        """The cell's pictures as uint8 (N, C, H, W)."""
        return self.test.images[list(self.indices)]


@torch.no_grad()
def predictions(model: nn.Module, test: TensorData, spec: BatchSpec, *, batch_size: int = 256,
                device: str | torch.device = "cpu", amp: bool = False) -> torch.Tensor:
    """The model's top-1 class for every test picture, in test order (the model's train/eval mode is kept)."""
    was_training = model.training
    model.eval()
    dev = torch.device(device)
    try:
        out = []
        for x, _, _ in Batches(test, spec, batch_size, device=dev):
            with autocast(dev, amp):
                out.append(logits_of(model(x)).float().argmax(1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def class_index(classes: tuple[str, ...], which: int | str) -> int:
    """A class given by index or by name, as an index; BadInputError for a class the model does not have."""
    if isinstance(which, str) and which in classes:
        return classes.index(which)
    if isinstance(which, int) and not isinstance(which, bool) and 0 <= which < len(classes):
        return which
    raise BadInputError(f"there is no class {which!r}; the classes are {', '.join(classes)}")


def confusion_cell(labels: torch.Tensor, predicted: torch.Tensor, true_class: int, predicted_class: int) -> list[int]:
    """Indices of the pictures whose label is true_class and whose prediction is predicted_class."""
    hit = (labels.cpu() == true_class) & (predicted.cpu() == predicted_class)
    return torch.nonzero(hit).flatten().tolist()


def mistakes(model: nn.Module, test: TensorData, spec: BatchSpec, true_class: int | str, predicted_class: int | str,
             *, batch_size: int = 256, device: str | torch.device = "cpu", amp: bool = False) -> Cell:
    """The test pictures of true_class that the model calls predicted_class (the diagonal: those it gets right)."""
    t, p = class_index(test.classes, true_class), class_index(test.classes, predicted_class)
    pred = predictions(model, test, spec, batch_size=batch_size, device=device, amp=amp)
    return Cell(test.classes[t], test.classes[p], tuple(confusion_cell(test.labels, pred, t, p)), test)


def checkpoint_mistakes(path: str, true_class: int | str, predicted_class: int | str, *,
                        test: TensorData | None = None, data_root: str | None = None,
                        limit_per_class: int | None = None, device: str = "auto") -> Cell:
    """mistakes() for a saved checkpoint, on `test` or else on the test split of the data set it was trained on."""
    from ..models import load_checkpoint

    model, meta = load_checkpoint(path)
    if test is None:
        test = checkpoint_test_split(meta, data_root=data_root, limit_per_class=limit_per_class)
    dev = pick_device(device)
    return mistakes(model.to(dev), test, checkpoint_spec(meta), true_class, predicted_class, device=dev)
