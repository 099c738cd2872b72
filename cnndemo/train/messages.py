"""What the trainer says: one frozen dataclass per kind of message, in the order a run yields them.

A run yields Status lines while it prepares, one Start, a Step per logged optimiser step, an Epoch after each
evaluation, and one Done at the end (also when it was cancelled or stopped early). Readers match on the type:

    for m in train(config):
        if isinstance(m, Step):
            print(m.step, m.loss, m.eta_s)
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Status:
    """A line of news for the progress area (loading data, computing frozen features)."""

    message: str


@dataclass(frozen=True)
class Start:
    """What is about to train, on what data, how much of it learns, and the warnings to show beside its numbers."""

    device: str
    model: str
    mode: str  # scratch, finetune or probe
    dataset: str  # as people write it ("MNIST", an archive's name)
    run_name: str
    lr: float
    epochs: int
    n_train: int  # training pictures
    n_test: int  # test pictures
    classes: tuple[str, ...]
    params: int  # parameters of the whole model
    trainable: int  # of which the optimiser changes
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One logged optimiser step: its loss and learning rate, the speed so far and the time left."""

    epoch: int  # from 1
    step: int  # optimiser steps taken, from 1
    steps_total: int  # in the whole run if nothing stops it early
    loss: float
    lr: float
    images_per_s: float  # training pictures over the wall time of the steps so far, data loading included
    eta_s: float | None  # seconds left at this run's measured pace (None before it can be measured)
    elapsed_s: float  # since the run started


@dataclass(frozen=True)
class Epoch:
    """One epoch's evaluation: train and test loss and accuracy, the confusion matrix and some mistakes."""

    epoch: int
    train_loss: float  # over the epoch's logged steps
    train_acc: float
    test_loss: float
    test_acc: float  # 0..1
    n_test: int
    test_acc_ci: list[float]  # [low, high] of the 95 % Wilson interval
    best_acc: float  # the kept checkpoint's test accuracy
    elapsed_s: float
    step: int  # optimiser steps taken so far
    per_class_accuracy: list[float]
    confusion_matrix: list[list[int]]  # rows: true class, columns: predicted class
    misclassified: list[tuple[int, int, int]]  # (test index, true class, predicted class), up to 32


@dataclass(frozen=True)
class Done:
    """The last message: why the run ended, the checkpoint it kept and its metrics, the counts and warnings."""

    checkpoint: str | None  # the kept .safetensors file; None when nothing was kept
    metrics: dict  # the kept checkpoint's (test_acc, test_acc_ci, n_test, epoch, ...); empty without one
    reason: str  # a StopReason value: completed, time_budget, cancelled, oom
    message: str  # the reason as a sentence
    elapsed_s: float
    device: str
    run_name: str
    n_train: int
    n_test: int
    warnings: tuple[str, ...]


Message = Status | Start | Step | Epoch | Done
