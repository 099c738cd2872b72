"""Training: a generator-based trainer, evaluation, and the run's settings."""
from .config import TrainConfig, command_line, recipe
from .evaluate import evaluate, evaluate_checkpoint
from .loop import build_model, device_name, pick_device, train

__all__ = ["TrainConfig", "build_model", "command_line", "device_name", "evaluate", "evaluate_checkpoint",
           "pick_device", "recipe", "train"]
