"""The trainer: a generator that yields metrics per step and per epoch, and a final 'done' message.

It generalises the seeds' train/test routines: cross-entropy (optionally label-smoothed) on the main
logits plus 0.3 x each auxiliary head (GoogLeNet), Adam or SGD, one-cycle or cosine schedules.
Data stays in tensors on the training device; augmentation happens per batch.
"""
from __future__ import annotations

import math
import os
import platform
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import BatchSpec, Batches, DataSettings, Splits, load_splits
from . import distributed
from .config import TrainConfig, command_line, recipe
from .evaluate import autocast, evaluate, logits_of, uses_bf16

_MESSAGES = {"completed": "finished all epochs", "cancelled": "cancelled; the best checkpoint so far is kept",
             "time_budget": "stopped at the time budget; the best checkpoint so far is kept"}
AUX_WEIGHT = 0.3  # GoogLeNet's auxiliary classifiers count 0.3 each, as in the paper


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """What the user is training on, in words."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU ({cpu_model()}{cores} cores, {platform.machine()}, {torch.get_num_threads()} threads)"


def cpu_model() -> str:
    """The CPU's model name and a separator (e.g. "AMD EPYC, "), or "" where the system does not say."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        name = platform.processor()
    return f"{name}, " if name else ""


SMALL_MODEL_PARAMS = 1_000_000


def cpu_threads(config: TrainConfig, model: nn.Module) -> int | None:
    """Threads for a CPU run: tiny models (LeNet) run many times faster on one thread when cores are shared,
    because each op is too small to split and waiting threads spin (measured in bench/train_lenet.py)."""
    if config.threads:
        return config.threads
    return 1 if is_tiny(model) else None


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


def is_tiny(model: nn.Module) -> bool:
    """Under SMALL_MODEL_PARAMS parameters: too small for extra CPU threads or an NHWC layout to pay."""
    return sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS


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
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0,
                               weight_decay=config.weight_decay)
    adam = torch.optim.AdamW if config.weight_decay else torch.optim.Adam
    return adam(params, lr=config.lr, weight_decay=config.weight_decay)


def make_schedule(config: TrainConfig, opt: torch.optim.Optimizer, total_steps: int):
    """Per-step learning-rate schedule: one-cycle, cosine, or constant (also for one-cycle runs under 8 steps)."""
    if config.schedule == "onecycle" and total_steps >= 8:  # OneCycleLR divides by zero on some tiny runs
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=max(total_steps, 1),
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


@dataclass
class RunState:
    """Counters a run keeps while it goes."""

    start: float = field(default_factory=time.perf_counter)
    train_time: float = 0.0
    images: int = 0
    step: int = 0
    epoch: int = 1
    nhwc: bool = False  # inputs go channels_last, as the model does
    best_acc: float = -1.0
    checkpoint: str | None = None
    best_metrics: dict = field(default_factory=dict)
    reason: str = "completed"
    message: str = ""
    dist: distributed.DistInfo = field(default_factory=distributed.DistInfo)
    sums: list = field(default_factory=lambda: [0.0, 0.0, 0])  # this epoch's loss sum, correct, images

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def speed(self) -> float:
        return self.images / self.train_time if self.train_time else 0.0


def dataset_label(dataset: str) -> str:
    """The data set as recorded in a checkpoint: a built-in name, or the archive's file name (not its path)."""
    return dataset if "/" not in dataset and "\\" not in dataset else Path(dataset).name


def save_best(model: nn.Module, config: TrainConfig, classes: tuple[str, ...], metrics: dict,
              state: RunState, device: torch.device) -> str:
    """Write the checkpoint atomically through cnndemo.checkpoints, with recipe and hardware."""
    from ..checkpoints import save
    from ..models import model_info

    info = model_info(config.model)
    model = getattr(model, "_orig_mod", model)  # the plain module under torch.compile
    size = epoch_input_size(config, state.epoch)  # the size this checkpoint's epoch trained and was tested at
    meta = {"arch": config.model, "classes": list(classes), "mean": list(info.mean), "std": list(info.std),
            "input_size": list(size), "dataset": dataset_label(config.dataset),
            "recipe": recipe(config), "command": command_line(config), "metrics": metrics,
            "hardware": device_name(device), "training_time_s": round(state.elapsed(), 1)}
    return str(save(model, config.out, meta))


_REASONS = (None, "time_budget", "cancelled")


def _stop_reason(config: TrainConfig, state: RunState, stop: threading.Event | None, eval_s: float,
                 device: torch.device) -> str | None:
    """Why to stop before the next step, if at all (the time budget keeps room for the last evaluation).

    Under torchrun every rank must stop at the same step, or the others would wait forever in all-reduce."""
    code = 2 if stop is not None and stop.is_set() else 0
    if not code and config.time_budget_s is not None and state.elapsed() + eval_s >= config.time_budget_s:
        code = 1
    if state.dist.world > 1:
        flag = torch.tensor([code], device=device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        code = int(flag.item())
    return _REASONS[code]


def _epoch_summary(epoch: int, sums: list[float], ev: dict, state: RunState) -> dict:
    """The per-epoch message."""
    loss_sum, correct, n = sums
    return {"kind": "epoch", "epoch": epoch, "train_loss": loss_sum / max(n, 1), "train_acc": correct / max(n, 1),
            "test_loss": ev["loss"], "test_acc": ev["accuracy"], "best_acc": state.best_acc,
            "elapsed_s": state.elapsed(), "step": state.step, "per_class_accuracy": ev["per_class_accuracy"],
            "confusion_matrix": ev["confusion_matrix"], "misclassified": ev["misclassified"][:32]}


def _keep_if_best(ev: dict, epoch: int, model, config, classes, state, device) -> None:
    """Save a checkpoint when test accuracy improved."""
    if ev["accuracy"] <= state.best_acc:
        return
    state.best_acc = ev["accuracy"]
    state.best_metrics = {"test_acc": ev["accuracy"], "test_loss": ev["loss"], "epoch": epoch,
                          "per_class_accuracy": ev["per_class_accuracy"], "n_test": ev["n"]}
    if state.dist.main:
        state.checkpoint = save_best(model, config, classes, state.best_metrics, state, device)
    else:
        from ..checkpoints import checkpoint_paths
        state.checkpoint = str(checkpoint_paths(config.out)[0])
    distributed.barrier(state.dist)


def train(config: TrainConfig, data: Splits | None = None, stop: threading.Event | None = None, *,
          model: nn.Module | None = None) -> Iterator[dict]:
    """Run one training job, yielding {"kind": "start"|"status"|"step"|"epoch"|"done", ...} messages."""
    torch.manual_seed(config.seed)
    dist_info, device = distributed.setup(pick_device(config.device))
    if data is None:
        yield {"kind": "status", "message": f"loading {dataset_label(config.dataset)}"}
        data = load_splits(config.dataset, DataSettings(root=config.data_root, seed=config.seed,
                                                        limit_per_class=config.limit_per_class,
                                                        test_limit_per_class=config.test_limit_per_class))
    model = (model if model is not None else build_model(config, len(data.classes))).to(device)
    state = RunState(dist=dist_info)
    threads = torch.get_num_threads()
    try:
        threads_here = cpu_threads(config, model) if device.type == "cpu" else None
        if threads_here:
            torch.set_num_threads(threads_here)
        yield from _run(config, data, model, device, stop, state)
    except torch.cuda.OutOfMemoryError:
        model.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        state.reason = "oom"
        state.message = (f"the GPU ran out of memory at batch size {config.batch_size}; try a smaller batch "
                         "(the best checkpoint so far is kept)")
    finally:
        torch.set_num_threads(threads)
    yield {"kind": "done", "checkpoint": state.checkpoint, "metrics": state.best_metrics, "reason": state.reason,
           "message": state.message or _MESSAGES[state.reason], "elapsed_s": state.elapsed(),
           "device": device_name(device)}


def _setup_batches(config, data, model, device, stop, state):
    """Train/test batch iterators and the module to optimise (the head alone for a cached linear probe)."""
    from ..models import model_info, resolve_layer

    eval_bs = max(config.batch_size, 256)
    train_b = Batches(data.train, batch_spec(config, config.dataset, True), config.batch_size, train=True,
                      device=device, seed=config.seed, rank=state.dist.rank, world=state.dist.world)
    test_b = Batches(data.test, batch_spec(config, config.dataset, False), eval_bs, device=device)
    if config.mode != "probe":
        return train_b, test_b, model
    model.eval()  # frozen features: batch-norm statistics and dropout stay as they were
    head = resolve_layer(model, model_info(config.model).head_layer)
    plain_train = Batches(data.train, batch_spec(config, config.dataset, False), eval_bs, device=device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    feats = [head_inputs(model, head, b, config.amp, stop, config.channels_last) for b in (plain_train, test_b)]
    if any(f is None for f in feats):
        return train_b, test_b, model  # the head is not the last step of forward(): train through the model
    return (FeatureBatches(*feats[0], data.classes, config.batch_size, True, config.seed),
            FeatureBatches(*feats[1], data.classes, eval_bs, False, 0), head)


def channels_last(config: TrainConfig, device: torch.device, model: nn.Module | None = None) -> bool:
    """NHWC on CUDA, with bf16 on AMX CPUs, and in fp32 on CPUs for models that are not tiny: oneDNN's
    convolutions want it (GoogLeNet-CIFAR steps 1.3x faster on an AVX2 CPU; bench/channels_last.py)."""
    if not config.channels_last:
        return False
    big = model is not None and not is_tiny(model)
    return device.type == "cuda" or uses_bf16(device, config.amp) or (device.type == "cpu" and big)


def _optimise(config, net: nn.Module, state: RunState, device: torch.device, total: int):
    """(forward module, optimizer, schedule): channels_last, DDP and torch.compile applied where asked."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels once
    state.nhwc = channels_last(config, device, net)
    if state.nhwc:
        net.to(memory_format=torch.channels_last)
    fwd = distributed.wrap(net, state.dist, device)
    fwd = torch.compile(fwd) if config.compile and config.mode != "probe" else fwd  # a lone head gains nothing
    opt = make_optimizer(config, [p for p in net.parameters() if p.requires_grad])
    return fwd, opt, make_schedule(config, opt, total)


def _step(config, fwd, opt, sched, x: torch.Tensor, y: torch.Tensor, device: torch.device, nhwc: bool):
    """One optimisation step; returns (loss, main logits)."""
    if nhwc and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(device, config.amp):
        loss, logits = loss_of(fwd(x), y, config.label_smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return loss, logits


def _epoch(config, train_b, fwd, opt, sched, epoch, total, state, stop, device, n_test) -> Iterator[dict]:
    """One pass over the training batches, yielding step messages; sums of loss/correct/seen in state.sums."""
    state.sums = [0.0, 0.0, 0]
    for x, y, _ in train_b:
        speed = state.speed()  # 0 before the first step: no estimate of the evaluation time yet
        reason = _stop_reason(config, state, stop, n_test / (3 * speed) if speed else 0.0, device)
        if reason:
            state.reason = reason
            return
        t0 = time.perf_counter()
        loss, logits = _step(config, fwd, opt, sched, x, y, device, state.nhwc)
        state.step += 1
        state.images += len(y)
        if state.step % config.log_every == 0 or state.step == total:
            lv = loss.item()  # the one host sync per logged step
            state.sums = [state.sums[0] + lv * len(y), state.sums[1] + (logits.argmax(1) == y).sum().item(),
                          state.sums[2] + len(y)]
        state.train_time += time.perf_counter() - t0
        if state.step % config.log_every == 0:
            yield _step_message(epoch, state, total, lv, opt)


def _run(config, data, model, device, stop, state) -> Iterator[dict]:
    """The epochs: steps, per-epoch evaluation, best checkpoint; sets state.reason when stopping early."""
    yield {"kind": "start", "device": device_name(device), "model": config.model, "mode": config.mode,
           "n_train": len(data.train), "n_test": len(data.test), "classes": list(data.classes),
           "params": sum(p.numel() for p in model.parameters()),
           "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    if config.mode == "probe":
        yield {"kind": "status", "message": "computing frozen features once"}
    train_b, test_b, net = _setup_batches(config, data, model, device, stop, state)
    if stop is not None and stop.is_set():
        state.reason = "cancelled"  # before the first step: nothing to keep
        return
    total = config.epochs * len(train_b)
    fwd, opt, sched = _optimise(config, net, state, device, total)
    for epoch in range(1, config.epochs + 1):
        net.train(config.mode != "probe")
        _resize(config, train_b, test_b, epoch, state)
        yield from _epoch(config, train_b, fwd, opt, sched, epoch, total, state, stop, device, len(data.test))
        if state.reason == "cancelled" and state.checkpoint:
            return  # keep the best checkpoint; stopping fast matters more than one more evaluation
        ev = evaluate(net, test_b, len(data.classes), amp=config.amp)  # run's precision: bf16 where used (fast);
        #                                  `python -m cnndemo eval` and scripts/ship_checkpoint.py measure in fp32
        _keep_if_best(ev, epoch, model, config, data.classes, state, device)
        yield _epoch_summary(epoch, state.sums, ev, state)
        if state.reason != "completed":
            return


def _resize(config: TrainConfig, train_b, test_b, epoch: int, state: RunState) -> None:
    """Feed this epoch's image size to both splits (progressive resizing), so each epoch tests at its own size."""
    state.epoch = epoch
    if config.size_list and isinstance(train_b, Batches):  # a cached probe's features have no image size
        train_b.spec = batch_spec(config, config.dataset, True, epoch)
        test_b.spec = batch_spec(config, config.dataset, False, epoch)


def _step_message(epoch: int, state: RunState, total: int, loss: float, opt) -> dict:
    """The per-step message: loss, learning rate, speed and ETA."""
    speed = state.step / state.train_time if state.train_time else 0.0
    return {"kind": "step", "epoch": epoch, "step": state.step, "steps_total": total, "loss": loss,
            "lr": opt.param_groups[0]["lr"], "images_per_s": state.speed(),
            "eta_s": (total - state.step) / speed if speed else None, "elapsed_s": state.elapsed()}
