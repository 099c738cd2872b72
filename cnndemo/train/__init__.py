"""Training: a generator-based trainer, evaluation, the run's settings, and the device it computes on."""
from .config import TrainConfig, command_line, recipe
from .device import device_name, pick_device
from .evaluate import evaluate, evaluate_checkpoint
from .loop import RunState, StopReason, train
from .parts import build_model

__all__ = ["RunState", "StopReason", "TrainConfig", "build_model", "command_line", "device_name", "evaluate",
           "evaluate_checkpoint", "pick_device", "recipe", "train"]
