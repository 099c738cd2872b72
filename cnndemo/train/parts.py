"""What a run is made of: the model, its input format per epoch, optimiser, schedule, loss, and its checkpoint."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import BatchSpec
from .config import TrainConfig, command_line, recipe
from ..models import logits_of

AUX_WEIGHT = 0.3  # GoogLeNet's auxiliary classifiers count 0.3 each, as in the paper


def build_model(config: TrainConfig, num_classes: int) -> nn.Module:
    """The registered model with the run's starting weights; in probe mode a fresh head on frozen features."""
    from ..models import get_model, model_info, replace_head, resolve_layer

    model = get_model(config.model, weights=config.weights, num_classes=num_classes)
    if config.mode == "probe":
        head = model_info(config.model).head_layer
        replace_head(model, head, num_classes)
        model.requires_grad_(False)
        resolve_layer(model, head).requires_grad_(True)
    return model


def epoch_input_size(config: TrainConfig, epoch: int) -> tuple[int, int, int]:
    """(C, H, W) the model is fed in this epoch: the model's own, or the side from --image-size / --sizes."""
    from ..models import model_info

    info, side = model_info(config.model), config.epoch_size(epoch)
    return info.input_size if side is None else (info.channels, side, side)


def batch_spec(config: TrainConfig, dataset: str, train: bool, epoch: int = 1) -> BatchSpec:
    """Model-side input format at this epoch's size, with crop+flip for colour data (digits must not be mirrored)."""
    from ..models import model_info

    info = model_info(config.model)
    aug = config.augment
    if aug == "auto":
        aug = "none" if dataset in ("mnist", "fashion_mnist") or config.mode == "probe" else "crop+flip"
    if not train:
        aug = "none"
    size = epoch_input_size(config, epoch)
    return BatchSpec(size, info.mean, info.std, crop_pad=4 if aug == "crop+flip" else 0,
                     flip=aug != "none")


def make_optimizer(config: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """Adam or SGD with momentum (Nesterov) over the trainable parameters."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum, nesterov=config.momentum > 0,
                               weight_decay=config.weight_decay)
    adam = torch.optim.AdamW if config.weight_decay else torch.optim.Adam
    return adam(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def make_schedule(config: TrainConfig, opt: torch.optim.Optimizer, total_steps: int):
    """Per-step learning-rate schedule: one-cycle, cosine, or constant (also for one-cycle runs under 8 steps)."""
    if config.schedule == "onecycle" and total_steps >= 8:  # OneCycleLR divides by zero on some tiny runs
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.learning_rate, total_steps=max(total_steps, 1),
                                                   pct_start=0.25)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total_steps, 1))
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def loss_of(out, y: torch.Tensor, smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, main logits): main loss + 0.3 x each auxiliary head with the same classes."""
    logits = logits_of(out)
    loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
    if isinstance(out, (tuple, list)):
        for aux in out[1:]:
            if isinstance(aux, torch.Tensor) and aux.shape == logits.shape:
                loss = loss + AUX_WEIGHT * F.cross_entropy(aux.float(), y, label_smoothing=smoothing)
    return loss, logits


def dataset_label(dataset: str) -> str:
    """The data set as recorded in a checkpoint: a built-in name, or the archive's file name (not its path)."""
    return dataset if "/" not in dataset and "\\" not in dataset else Path(dataset).name


def save_checkpoint(model: nn.Module, config: TrainConfig, classes: tuple[str, ...], metrics: dict, *,
                    epoch: int, hardware: str, elapsed_s: float) -> str:
    """Write the checkpoint atomically through cnndemo.checkpoints, with recipe and hardware; a frozen-feature run
    on the registry's own weights is written as its heads plus a reference to those weights (see frozen_part)."""
    from ..checkpoints import save
    from ..models import model_info

    info = model_info(config.model)
    model = getattr(model, "_orig_mod", model)  # the plain module under torch.compile
    size = epoch_input_size(config, epoch)  # the size this checkpoint's epoch trained and was tested at
    meta = {"arch": config.model, "classes": list(classes), "mean": list(info.mean), "std": list(info.std),
            "input_size": list(size), "dataset": dataset_label(config.dataset),
            "recipe": recipe(config), "command": command_line(config), "metrics": metrics,
            "hardware": hardware, "training_time_s": round(elapsed_s, 1)}
    state, frozen = frozen_part(config, model)
    return str(save(state, config.out, {**meta, "frozen": frozen} if frozen else meta))


def frozen_part(config: TrainConfig, model: nn.Module) -> tuple[dict, dict | None]:
    """(tensors to write, reference): a probe on the registry's own weights keeps only its heads (the head and
    any auxiliary heads, all new) and names the frozen weights with a hash of them, so that a class-builder run
    on EfficientNet-Lite0 is a few kilobytes rather than 13.7 MB; any other run keeps every tensor."""
    from ..checkpoints import frozen_digest, in_layers
    from ..models import model_info
    from ..models import WeightsKind

    state, info = model.state_dict(), model_info(config.model)
    kind = info.weights.kind
    if config.mode != "probe" or kind is WeightsKind.NONE or config.weights not in ("default", kind.value):
        return state, None
    heads = [info.head_layer, *getattr(model, "aux_heads", ())]
    reference = {"weights": kind.value, "heads": heads, "digest": frozen_digest(state, heads)}
    return {k: v for k, v in state.items() if in_layers(k, heads)}, reference
