"""The story from LeNet to EfficientNet: year and idea of each architecture family (facts about the families, kept
here in one table), with depth, parameters and multiply-adds computed from the registry models and the accuracy
each reached here read from the shipped checkpoints' sidecars."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from cnndemo.models import list_models, model_info
from cnndemo.models.weights import WeightsKind

# family -> (year published, the idea it introduced); the order is the story's
FAMILIES = {
    "LeNet": (1998, "Convolution, pooling and fully connected layers; each 5x5 filter is shared across the image."),
    "AlexNet": (2012, "A deep CNN trained on GPUs wins ImageNet: ReLU activations, dropout, data augmentation."),
    "VGG": (2014, "Depth from stacks of small 3x3 convolutions: two of them see as far as one 5x5."),
    "GoogLeNet": (2014, "Inception modules: parallel 1x1, 3x3, 5x5 and pooling branches with 1x1 reductions; "
                        "global average pooling instead of big fully connected layers."),
    "ResNet": (2015, "Residual connections x + F(x): networks of 100+ layers train."),
    "DenseNet": (2016, "Dense connectivity: every layer receives all earlier maps of its block, concatenated."),
    "EfficientNet": (2019, "Depthwise-separable MBConv blocks; depth, width and resolution scaled together."),
}
BENCHMARK = "cifar10"  # the data set most shipped checkpoints share, so their accuracies compare


@dataclass(frozen=True)
class StoryRow:
    """One architecture in the story."""

    model: str
    family: str
    year: int
    idea: str
    depth: int  # weight layers on the longest path through the forward
    params: int
    mult_adds: int
    accuracy: str
    dataset: str


def story_models() -> list[str]:
    """For each family, in order, its models that reached a result here (preferring the common benchmark)."""
    chosen = []
    for family in FAMILIES:
        ready = [n for n in list_models() if model_info(n).family == family and _result(n) is not None]
        best = [n for n in ready if model_info(n).dataset == BENCHMARK] or ready
        chosen += best[:1]
    return chosen


def _result(name: str) -> str | None:
    """What the model reached here: its shipped checkpoint's test accuracy (from the sidecar), or the packaged
    ImageNet weights; None for anything else (torchvision's own figures were not reached here)."""
    spec = model_info(name).weights
    if spec.kind is WeightsKind.PACKAGE:
        return "ImageNet weights (package)"
    if spec.kind is not WeightsKind.CHECKPOINT or not spec.is_here():
        return None
    recorded = spec.metrics()
    if recorded is None or recorded.test_acc is None:
        return None
    return f"{100 * recorded.test_acc:.2f} % ({spec.dataset_label} test)"


@functools.lru_cache(maxsize=64)
def story_row(name: str) -> StoryRow:
    """One row, computed from the model (depth from a shape-only trace, totals from cnndemo.layertable)."""
    from cnndemo.layertable import summary
    from cnndemo.zoo import registry_info

    info = registry_info(name)
    year, idea = FAMILIES[info.family]
    s = summary(name, info.input_size)
    return StoryRow(name, info.family, year, idea, model_depth(name, info.input_size), s.total_params,
                    s.total_mult_adds, _result(name) or "not trained here", info.dataset)


def model_depth(name: str, input_size: tuple[int, int, int]) -> int:
    """Weight layers (convolutions and fully connected) on the longest path, traced on shape-only tensors."""
    from cnndemo.models import get_model

    from .trace import trace

    with torch.device("meta"):
        model = get_model(name)
    tr = trace(model, torch.empty(1, *input_size, device="meta"))
    return max(s.rf.depth for s in tr.steps if s.rf is not None)


def story(names: list[str] | None = None) -> list[StoryRow]:
    """The story's rows, oldest first."""
    order = list(FAMILIES)
    return sorted((story_row(n) for n in (names or story_models())), key=lambda r: (r.year, order.index(r.family)))
