"""The trainer: one loop that yields a message per logged step and per epoch, then a final Done message.

Read it top to bottom: `train` loads the data and builds the model, `_prepare` makes the run's parts (batches,
optimiser, schedule), `_epochs` is the loop, and the message builders come last. It generalises the seeds'
train/test routines: cross-entropy (optionally label-smoothed) on the main logits plus 0.3 x each auxiliary head
(GoogLeNet), Adam or SGD, one-cycle or cosine schedules. Data stays in tensors on the training device;
augmentation happens per batch. The messages are the frozen dataclasses of messages.py.

Speed and time left come from this run's own wall clock: the steps' stretch (fetching and augmenting each batch,
the step, and whatever the reader does with a message before asking for the next) and the evaluations' stretch
are timed apart, so a reader that draws figures between steps is counted, as the user waits for it too.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Iterator

import torch
import torch.nn as nn

from ..data import Batches, DataSettings, Splits, load_splits
from . import distributed
from .caveats import accuracy_interval, run_warnings
from .config import TrainConfig
from .device import autocast, channels_last, cpu_threads, device_name, pick_device, torch_threads
from .evaluate import evaluate
from .features import FeatureBatches, FeatureCache
from .messages import Done, Epoch, Message, Start, Status, Step
from .parts import batch_spec, build_model, dataset_label, loss_of, make_optimizer, make_schedule, save_checkpoint

__all__ = ["Run", "RunState", "StopReason", "build_model", "load_data", "loss_of", "train"]


class StopReason(StrEnum):
    """Why a run ended; the value is what the messages, the logs and the command line show."""

    COMPLETED = "completed"
    TIME_BUDGET = "time_budget"
    CANCELLED = "cancelled"
    OOM = "oom"

    @property
    def sentence(self) -> str:
        """What the reason means, for people."""
        return _SENTENCES[self]


_SENTENCES = {StopReason.COMPLETED: "finished all epochs",
              StopReason.TIME_BUDGET: "stopped at the time budget; the best checkpoint so far is kept",
              StopReason.CANCELLED: "cancelled; the best checkpoint so far is kept",
              StopReason.OOM: "the GPU ran out of memory; try a smaller batch (the best checkpoint so far is kept)"}


@dataclass
class RunState:
    """Where a run stands: the counters the loop advances, the best result so far, and why it stopped."""

    started: float = field(default_factory=time.perf_counter)
    step: int = 0  # optimiser steps taken
    epoch: int = 0  # the epoch under way, from 1
    images_seen: int = 0  # training images through the model
    steps_wall_s: float = 0.0  # wall time of the steps: batches, the steps, the reader between them
    first_step_s: float = 0.0  # the first step's share of it (one-time costs: compile, autotune, lazy init)
    evals_wall_s: float = 0.0  # wall time of the evaluations, the checkpoints and the reader on their messages
    evaluations: int = 0
    mark: float = field(default_factory=time.perf_counter)  # when the stretch being timed began
    epoch_loss_sum: float = 0.0  # loss x images over this epoch's logged steps
    epoch_correct: int = 0  # right answers over this epoch's logged steps
    epoch_logged: int = 0  # images in this epoch's logged steps
    best_acc: float = -1.0
    best_metrics: dict = field(default_factory=dict)
    checkpoint: str | None = None
    reason: StopReason | None = None  # None while the run goes on
    warnings: list[str] = field(default_factory=list)  # sentences to show beside the run's numbers
    message: str = ""  # said instead of the reason's sentence (e.g. the batch size that ran out of memory)

    def elapsed_s(self) -> float:
        """Seconds since the run started, evaluation and data preparation included."""
        return time.perf_counter() - self.started

    def lap(self) -> float:
        """Seconds since the last lap (or since the run began), restarting the count."""
        now = time.perf_counter()
        spent, self.mark = now - self.mark, now
        return spent

    def step_s(self) -> float:
        """Wall seconds per step so far, after the first step when there are more (0 before the first step)."""
        if self.step > 1:
            return (self.steps_wall_s - self.first_step_s) / (self.step - 1)
        return self.steps_wall_s

    def images_per_s(self) -> float:
        """Training speed so far, in pictures per wall second of the steps (0 before the first step)."""
        step_s = self.step_s()
        return self.images_seen / self.step / step_s if step_s > 0 else 0.0

    def begin_epoch(self, epoch: int) -> None:
        """Start counting a new epoch's training loss and accuracy."""
        self.epoch, self.epoch_loss_sum, self.epoch_correct, self.epoch_logged = epoch, 0.0, 0, 0


@dataclass
class Run:
    """What one run works with, made once before its first step."""

    config: TrainConfig
    data: Splits
    model: nn.Module  # the whole model: what the checkpoint holds
    net: nn.Module  # what is optimised: the model, or its head alone for a cached linear probe
    fwd: nn.Module  # net as called: under DDP and torch.compile where asked
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    train_batches: Batches | FeatureBatches
    test_batches: Batches | FeatureBatches
    device: torch.device
    dist: distributed.DistInfo
    stop: threading.Event | None
    nhwc: bool  # inputs go channels_last, as the model does
    features: FeatureCache  # a probe's frozen features, kept by picture content across runs when shared

    @property
    def total_steps(self) -> int:
        """Optimiser steps in the whole run if nothing stops it early."""
        return self.config.epochs * len(self.train_batches)


def train(config: TrainConfig, data: Splits | None = None, stop: threading.Event | None = None, *,
          model: nn.Module | None = None, features: FeatureCache | None = None) -> Iterator[Message]:
    """Run one training job, yielding Status, Start, Step and Epoch messages, and Done at the end.

    Pass one FeatureCache to every probe run over a growing set of pictures: each picture's frozen features are
    then computed once (a fresh cache per run otherwise)."""
    torch.manual_seed(config.seed)
    dist, device = distributed.setup(pick_device(config.device))
    if data is None:
        yield _status(f"loading {dataset_label(config.dataset)}")
        data = load_data(config)
    model = (model if model is not None else build_model(config, len(data.classes))).to(device)
    state = RunState(warnings=run_warnings(config.model, data))
    with torch_threads(cpu_threads(config, model) if device.type == "cpu" else None):
        try:
            yield _start_message(config, data, model, device, state)
            if config.mode == "probe":
                yield _status("computing frozen features (once per picture)")
            run = _prepare(config, data, model, device, dist, stop, FeatureCache() if features is None else features)
            if _stopped(stop):
                state.reason = StopReason.CANCELLED  # before the first step: nothing to keep
            else:
                yield from _epochs(run, state)
        except torch.cuda.OutOfMemoryError:
            _out_of_memory(model, config, state)
    yield _done_message(config, data, state, device)


def load_data(config: TrainConfig) -> Splits:
    """The run's data set: a built-in name or an archive path, with the run's subset and seed."""
    return load_splits(config.dataset, DataSettings(root=config.data_root, seed=config.seed,
                                                    limit_per_class=config.limit_per_class,
                                                    test_limit_per_class=config.test_limit_per_class))


def _prepare(config: TrainConfig, data: Splits, model: nn.Module, device: torch.device,
             dist: distributed.DistInfo, stop: threading.Event | None, features: FeatureCache) -> Run:
    """The run's batches, the module to optimise, its optimiser and schedule (NHWC, DDP, compile where asked)."""
    train_b, test_b, net = _batches(config, data, model, device, dist, stop, features)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels once
    nhwc = channels_last(config, device, net)
    if nhwc:
        net.to(memory_format=torch.channels_last)
    fwd = distributed.wrap(net, dist, device)
    fwd = torch.compile(fwd) if config.compile and config.mode != "probe" else fwd  # a lone head gains nothing
    opt = make_optimizer(config, [p for p in net.parameters() if p.requires_grad])
    sched = make_schedule(config, opt, config.epochs * len(train_b))
    return Run(config, data, model, net, fwd, opt, sched, train_b, test_b, device, dist, stop, nhwc, features)


def _epochs(run: Run, state: RunState) -> Iterator[Step | Epoch]:
    """The loop: each epoch trains step by step, then tests and keeps the best checkpoint, until a stop reason."""
    for epoch in range(1, run.config.epochs + 1):
        state.begin_epoch(epoch)
        _feed_epoch_size(run, epoch)
        run.net.train(run.config.mode != "probe")  # a probe's frozen batch-norm statistics stay as they were
        state.lap()  # the steps' stretch starts here (preparing the run is not a step)
        for x, y, _ in run.train_batches:
            state.reason = _stop_reason(run, state)
            if state.reason is not None:
                break
            loss = _train_step(run, state, x, y)
            _count_step_time(state)
            if state.step % run.config.log_every == 0:
                yield _step_message(run, state, loss)
        state.steps_wall_s += state.lap()  # the last fetch, and the reader's time on the last step's message
        if state.reason is StopReason.CANCELLED and state.checkpoint:
            return  # keep the best checkpoint; stopping fast matters more than one more evaluation
        # the run's precision (bf16 where used, fast); `python -m cnndemo eval` measures in fp32
        ev = evaluate(run.net, run.test_batches, len(run.data.classes), amp=run.config.amp)
        _keep_checkpoint(run, state, ev)
        yield _epoch_message(run, state, ev)
        state.evals_wall_s, state.evaluations = state.evals_wall_s + state.lap(), state.evaluations + 1
        if state.reason is not None:
            return
    state.reason = StopReason.COMPLETED


def _count_step_time(state: RunState) -> None:
    """Add the wall time since the previous step (fetching this batch, the step, the reader before it) to the
    steps' stretch; the first step's share is also kept apart, as it carries one-time costs."""
    spent = state.lap()
    state.steps_wall_s += spent
    if state.step == 1:
        state.first_step_s = spent


def _train_step(run: Run, state: RunState, x: torch.Tensor, y: torch.Tensor) -> float | None:
    """One optimisation step, counted; returns the loss when the step is logged (its one host sync)."""
    if run.nhwc and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(run.device, run.config.amp):
        loss, logits = loss_of(run.fwd(x), y, run.config.label_smoothing)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    run.opt.step()
    run.sched.step()
    state.step += 1
    state.images_seen += len(y)
    value = None
    if state.step % run.config.log_every == 0 or state.step == run.total_steps:
        value = loss.item()
        state.epoch_loss_sum += value * len(y)
        state.epoch_correct += int((logits.argmax(1) == y).sum())
        state.epoch_logged += len(y)
    return value


_STOP_CODES = (None, StopReason.TIME_BUDGET, StopReason.CANCELLED)  # all-reduced as integers under torchrun


def _stop_reason(run: Run, state: RunState) -> StopReason | None:
    """Why to stop before the next step, if at all; the time budget keeps room for the last evaluation.

    Under torchrun every rank must stop at the same step, or the others would wait forever in all-reduce."""
    budget = run.config.time_budget_s
    code = 2 if _stopped(run.stop) else int(budget is not None and state.elapsed_s() + _eval_s(run, state) >= budget)
    if run.dist.world > 1:
        flag = torch.tensor([code], device=run.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        code = int(flag.item())
    return _STOP_CODES[code]


def _eval_s(run: Run, state: RunState) -> float:
    """Wall seconds one evaluation takes: measured once the run has evaluated; before that a test picture is
    guessed at a third of a training picture (a forward without the backward), 0 before the first step."""
    if state.evaluations:
        return state.evals_wall_s / state.evaluations
    speed = state.images_per_s()
    return len(run.data.test) / (3 * speed) if speed else 0.0


def _time_left_s(run: Run, state: RunState) -> float | None:
    """Seconds the run has left at its measured pace: the steps to go and the evaluations to go, and never past
    the time budget; None before the first step."""
    if not state.step:
        return None
    evals_left = run.config.epochs - state.evaluations
    left = (run.total_steps - state.step) * state.step_s() + evals_left * _eval_s(run, state)
    budget = run.config.time_budget_s
    return left if budget is None else max(0.0, min(left, budget - state.elapsed_s()))


def _stopped(stop: threading.Event | None) -> bool:
    """Whether the user asked the run to stop."""
    return stop is not None and stop.is_set()


def _keep_checkpoint(run: Run, state: RunState, ev: dict) -> None:
    """Save the checkpoint the run keeps: at a better test accuracy, or (keep="last") at the run's last epoch.

    Rank 0 writes it; the other ranks learn its path."""
    from ..checkpoints import checkpoint_paths

    if run.config.keep == "last":
        if state.epoch < run.config.epochs and state.reason is None:
            return
    elif ev["accuracy"] <= state.best_acc:
        return
    state.best_acc = ev["accuracy"]
    state.best_metrics = {"test_acc": ev["accuracy"], "test_acc_ci": accuracy_interval(ev["accuracy"], ev["n"]),
                          "test_loss": ev["loss"], "epoch": state.epoch, "per_class_accuracy": ev["per_class_accuracy"],
                          "n_test": ev["n"], "n_train": len(run.data.train)}
    if run.dist.main:
        state.checkpoint = save_checkpoint(run.model, run.config, run.data.classes, state.best_metrics,
                                           epoch=state.epoch, hardware=device_name(run.device),
                                           elapsed_s=state.elapsed_s())
    else:
        state.checkpoint = str(checkpoint_paths(run.config.out)[0])
    distributed.barrier(run.dist)


def _out_of_memory(model: nn.Module, config: TrainConfig, state: RunState) -> None:
    """Free what the failed step held and end the run with a sentence that names the batch size."""
    model.zero_grad(set_to_none=True)
    torch.cuda.empty_cache()
    state.reason = StopReason.OOM
    state.message = (f"the GPU ran out of memory at batch size {config.batch_size}; try a smaller batch "
                     "(the best checkpoint so far is kept)")


def _batches(config: TrainConfig, data: Splits, model: nn.Module, device: torch.device,
             dist: distributed.DistInfo, stop: threading.Event | None, features: FeatureCache):
    """(train batches, test batches, module to optimise): images, or frozen features for a linear probe."""
    eval_bs = max(config.batch_size, 256)
    train_b = Batches(data.train, batch_spec(config, config.dataset, True), config.batch_size, train=True,
                      device=device, seed=config.seed, rank=dist.rank, world=dist.world)
    test_b = Batches(data.test, batch_spec(config, config.dataset, False), eval_bs, device=device)
    if config.mode != "probe":
        return train_b, test_b, model
    return _probe_batches(config, data, model, stop, features, train_b, test_b)


def _probe_batches(config: TrainConfig, data: Splits, model: nn.Module, stop: threading.Event | None,
                   features: FeatureCache, train_b: Batches, test_b: Batches):
    """Batches of the head's inputs (one frozen forward per picture not yet in the cache, and the head alone to
    train); the image batches and the whole model where the head is not the model's last step."""
    from ..models import model_info, resolve_layer

    model.eval()  # frozen features: batch-norm statistics and dropout stay as they were
    head = resolve_layer(model, model_info(config.model).head_layer)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    spec, device = batch_spec(config, config.dataset, False), train_b.device
    feats = [features.features(model, head, split.images, spec, device=device, amp=config.amp,
                               nhwc=config.channels_last, batch_size=test_b.batch_size, stop=stop)
             for split in (data.train, data.test)]
    if any(f is None for f in feats):
        return train_b, test_b, model
    return (FeatureBatches(feats[0], data.train.labels.to(device), data.classes, config.batch_size, True,
                           config.seed),
            FeatureBatches(feats[1], data.test.labels.to(device), data.classes, test_b.batch_size, False, 0), head)


def _feed_epoch_size(run: Run, epoch: int) -> None:
    """Progressive resizing: both splits get this epoch's side, so each epoch tests at its own size."""
    if run.config.size_list and isinstance(run.train_batches, Batches):  # cached features have no image size
        run.train_batches.spec = batch_spec(run.config, run.config.dataset, True, epoch)
        run.test_batches.spec = batch_spec(run.config, run.config.dataset, False, epoch)


def _status(text: str) -> Status:
    """A line of news for the progress area."""
    return Status(text)


def _start_message(config: TrainConfig, data: Splits, model: nn.Module, device: torch.device,
                   state: RunState) -> Start:
    """What is about to train, on what data (train and test counts), how much of it learns, and any warnings."""
    return Start(device=device_name(device), model=config.model, mode=config.mode,
                 dataset=dataset_label(config.dataset), run_name=config.run_name, lr=config.learning_rate,
                 epochs=config.epochs, n_train=len(data.train), n_test=len(data.test), classes=tuple(data.classes),
                 params=sum(p.numel() for p in model.parameters()),
                 trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
                 warnings=tuple(state.warnings))


def _step_message(run: Run, state: RunState, loss: float) -> Step:
    """The per-step message: loss, learning rate, speed and time left."""
    return Step(epoch=state.epoch, step=state.step, steps_total=run.total_steps, loss=loss,
                lr=run.opt.param_groups[0]["lr"], images_per_s=state.images_per_s(),
                eta_s=_time_left_s(run, state), elapsed_s=state.elapsed_s())


def _epoch_message(run: Run, state: RunState, ev: dict) -> Epoch:
    """The per-epoch message: train and test loss and accuracy, the confusion matrix and some mistakes."""
    n = max(state.epoch_logged, 1)
    return Epoch(epoch=state.epoch, train_loss=state.epoch_loss_sum / n, train_acc=state.epoch_correct / n,
                 test_loss=ev["loss"], test_acc=ev["accuracy"], n_test=ev["n"],
                 test_acc_ci=accuracy_interval(ev["accuracy"], ev["n"]), best_acc=state.best_acc,
                 elapsed_s=state.elapsed_s(), step=state.step, per_class_accuracy=ev["per_class_accuracy"],
                 confusion_matrix=ev["confusion_matrix"], misclassified=ev["misclassified"][:32])


def _done_message(config: TrainConfig, data: Splits, state: RunState, device: torch.device) -> Done:
    """The last message: why the run ended, the checkpoint it kept and its metrics, the counts and warnings."""
    reason = state.reason or StopReason.COMPLETED
    return Done(checkpoint=state.checkpoint, metrics=state.best_metrics, reason=reason.value,
                message=state.message or reason.sentence, elapsed_s=state.elapsed_s(), device=device_name(device),
                run_name=config.run_name, n_train=len(data.train), n_test=len(data.test),
                warnings=tuple(state.warnings))
