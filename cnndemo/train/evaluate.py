"""Evaluation: accuracy, per-class accuracy, confusion matrix and the misclassified examples."""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models import logits_of
from .device import autocast, pick_device


@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
             num_classes: int | None = None, *, amp: bool = False, max_misclassified: int = 100) -> dict:
    """Run model over (inputs, labels, indices) batches in eval mode and summarise how it did."""
    k = num_classes or len(data.classes)  # type: ignore[attr-defined]
    was_training = model.training
    model.eval()
    confusion = torch.zeros(k * k, dtype=torch.int64)
    loss_sum, n, wrong = 0.0, 0, []
    for x, y, idx in data:
        with autocast(x.device, amp):
            logits = logits_of(model(x)).float()
        pred = logits.argmax(1)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        n += len(y)
        confusion += torch.bincount((y * k + pred).cpu(), minlength=k * k)
        miss = torch.nonzero(pred != y).flatten().cpu()
        room = max_misclassified - len(wrong)
        wrong += [(int(idx[i]), int(y[i]), int(pred[i])) for i in miss[:room]]
    model.train(was_training)
    return summarise(confusion.view(k, k), loss_sum, n, wrong)


def summarise(confusion: torch.Tensor, loss_sum: float, n: int, wrong: list) -> dict:
    """Accuracy figures from a confusion matrix (rows: true class, columns: predicted)."""
    per_class_total = confusion.sum(1).clamp(min=1)
    return {
        "accuracy": float(confusion.diag().sum()) / max(n, 1),
        "loss": loss_sum / max(n, 1),
        "per_class_accuracy": (confusion.diag() / per_class_total).tolist(),
        "confusion_matrix": confusion.tolist(),
        "misclassified": wrong,
        "n": n,
    }


def evaluate_checkpoint(path: str, dataset: str | None = None, *, data_root: str | None = None,
                        limit_per_class: int | None = None, batch_size: int = 256, device: str = "auto") -> dict:
    """Load a cnndemo checkpoint and evaluate it on a data set's test split (the one it was trained on by default)."""
    from ..data import Batches
    from ..models import load_checkpoint

    model, meta = load_checkpoint(path)
    dataset = dataset or meta.get("dataset")
    test = checkpoint_test_split(meta, dataset, data_root=data_root, limit_per_class=limit_per_class)
    dev = pick_device(device)
    result = evaluate(model.to(dev), Batches(test, checkpoint_spec(meta), batch_size, device=dev), len(test.classes))
    return {**result, "classes": list(test.classes), "dataset": dataset, "arch": meta.get("arch")}


def checkpoint_spec(meta: dict):
    """How a checkpoint's model is fed (its sidecar's input size and normalisation), as a BatchSpec."""
    from ..data import BatchSpec

    return BatchSpec(tuple(meta["input_size"]), tuple(meta["mean"]), tuple(meta["std"]))


def checkpoint_test_split(meta: dict, dataset: str | None = None, *, data_root: str | None = None,
                          limit_per_class: int | None = None):
    """The test split of a checkpoint's data set (or of `dataset`): a built-in set's, or an archive's held-out
    part, split as in training so that no training image is scored."""
    from ..data import DATASETS, DataSettings, load_dataset, load_splits

    dataset = dataset or meta.get("dataset")
    if dataset in DATASETS:
        settings = DataSettings(root=data_root, test_limit_per_class=limit_per_class)
        return load_dataset(dataset, split="test", settings=settings)
    r = meta.get("recipe") or {}
    settings = DataSettings(root=data_root, seed=r.get("seed", 0), limit_per_class=r.get("limit_per_class"),
                            test_limit_per_class=limit_per_class)
    return load_splits(str(dataset), settings).test
