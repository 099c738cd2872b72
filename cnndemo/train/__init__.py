"""Training: a generator-based trainer, evaluation, the run's settings, the device it computes on, frozen-feature
caching, confusion-cell look-up (mistakes) and the caveats beside a run's numbers (intervals, warnings)."""
from .caveats import MIN_TEST_IMAGES, run_warnings, wilson_interval
from .config import CLASS_SET_RECIPE, DEFAULT_LR, SHAPES_RECIPE, TrainConfig, command_line, recipe
from .device import device_name, pick_device
from .evaluate import evaluate, evaluate_checkpoint
from .features import FeatureCache
from .loop import RunState, StopReason, train
from .messages import Done, Epoch, Message, Start, Status, Step
from .mistakes import Cell, checkpoint_mistakes, confusion_cell, mistakes, predictions
from .parts import build_model

__all__ = ["CLASS_SET_RECIPE", "Cell", "DEFAULT_LR", "Done", "Epoch", "FeatureCache", "MIN_TEST_IMAGES", "Message",
           "RunState", "SHAPES_RECIPE", "Start", "Status", "Step", "StopReason", "TrainConfig", "build_model",
           "checkpoint_mistakes", "command_line", "confusion_cell", "device_name", "evaluate", "evaluate_checkpoint",
           "mistakes", "pick_device", "predictions", "recipe", "run_warnings", "train", "wilson_interval"]
