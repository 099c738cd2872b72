"""The story from LeNet to EfficientNet: year and idea of each architecture family (facts about the families, kept
here in one table), with depth, parameters and multiply-adds computed from the registry models and the accuracy
each reached here read from the shipped checkpoints' sidecars."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from cnndemo.models import list_models, model_info
from cnndemo.models.weights import WeightsKind

from .trace import Field, Trace, trace

# family -> (year published, the idea it introduced, its depth as the paper counts it); the order is the story's
FAMILIES = {
    "LeNet": (1998, "Convolution, pooling and fully connected layers; each 5x5 filter is shared across the image.",
              "LeNet-5: 5 = 3 conv (C1, C3, C5) + 2 FC (F6, output); the paper says 7, counting its two "
              "subsampling layers, which have weights there"),
    "AlexNet": (2012, "A deep CNN trained on GPUs wins ImageNet: ReLU activations, dropout, data augmentation.",
                "AlexNet: 8 = 5 conv + 3 FC"),
    "VGG": (2014, "Depth from stacks of small 3x3 convolutions: two of them see as far as one 5x5.",
            "VGG-16: 16 = 13 conv + 3 FC (VGG-11, 13, 19: 8, 10, 16 conv + 3 FC)"),
    "GoogLeNet": (2014, "Inception modules: parallel 1x1, 3x3, 5x5 and pooling branches with 1x1 reductions; "
                        "global average pooling instead of big fully connected layers.",
                  "GoogLeNet: 22 layers with weights = 21 conv (3 in the stem, 2 in each of 9 Inception modules) "
                  "+ 1 FC"),
    "ResNet": (2015, "Residual connections x + F(x): networks of 100+ layers train.",
               "ResNet-18: 18 = 17 conv (1 + 2 in each of 8 residual blocks) + 1 FC; ResNet-50: 3 per block, 50"),
    "DenseNet": (2016, "Dense connectivity: every layer receives all earlier maps of its block, concatenated.",
                 "DenseNet-121: 121 = 120 conv (1 + 2 in each of 58 dense layers + 3 transitions) + 1 FC"),
    "EfficientNet": (2019, "Depthwise-separable MBConv blocks; depth, width and resolution scaled together.",
                     "EfficientNet-B0: the paper counts blocks, not layers: a stem, 16 MBConv blocks, a head"),
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
    depth_text: str  # what the depth counts: "14 = 13 conv + 1 FC", and what each block adds
    published: str  # the family's depth as its paper counts it
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
    year, idea, published = FAMILIES[info.family]
    s = summary(name, info.input_size)
    depth, text = depth_story(name, info.input_size)
    return StoryRow(name, info.family, year, idea, depth, text, published, s.total_params, s.total_mult_adds,
                    _result(name) or "not trained here", info.dataset)


def _shape_trace(name: str, input_size: tuple[int, int, int]) -> Trace:
    """The forward of a registry model traced on shape-only tensors."""
    from cnndemo.models import get_model

    with torch.device("meta"):
        model = get_model(name)
    return trace(model, torch.empty(1, *input_size, device="meta"))


def model_depth(name: str, input_size: tuple[int, int, int]) -> int:
    """Weight layers (convolutions and fully connected) on the longest path, traced on shape-only tensors."""
    return _deepest(_shape_trace(name, input_size)).depth


def _deepest(tr: Trace) -> Field:
    """The field of the deepest tensor of the forward (most weight layers, then most fully connected ones)."""
    return max((s.rf for s in tr.steps if s.rf is not None), key=lambda f: (f.depth, f.dense))


def depth_story(name: str, input_size: tuple[int, int, int]) -> tuple[int, str]:
    """The depth and what it counts: '29 = 28 conv + 1 FC; each Inception module adds 3' (as the papers count)."""
    tr = _shape_trace(name, input_size)
    f = _deepest(tr)
    text = f"{f.depth} = {f.depth - f.dense} conv + {f.dense} FC"
    adds = block_depths(tr)
    return f.depth, "; ".join([text] + [f"each {kind} adds {_either(d)}" for kind, d in adds.items()])


def block_depths(tr: Trace) -> dict[str, list[int]]:
    """Residual block, Inception module, dense layer -> the weight layers each adds to the deepest path."""
    adds: dict[str, set[int]] = {}
    for name, calls in tr.calls.items():
        kind = tr.kind_of(name) if name else ""
        if kind in ("residual block", "Inception module", "dense layer") and calls[0].rf is not None:
            before = tr.producer(calls[0].inputs[0]) if calls[0].inputs else None
            start = before.rf.depth if before is not None and before.rf is not None else 0
            adds.setdefault(kind, set()).add(calls[0].rf.depth - start)
    return {kind: sorted(d) for kind, d in adds.items()}


def _either(values: list[int]) -> str:
    """'3', '2 or 3', '1, 2 or 3'."""
    return str(values[0]) if len(values) == 1 else f"{', '.join(map(str, values[:-1]))} or {values[-1]}"


def story_table(rows: list[StoryRow]) -> list[dict]:
    """The story as table rows, each number with what it counts in its column name."""
    return [{"year": r.year, "model": r.model, "family": r.family,
             "depth here (weight layers on the longest path)": r.depth_text, "depth in the paper": r.published,
             "parameters": f"{r.params:,}", "multiply-adds per image": f"{r.mult_adds:,}",
             "accuracy here": r.accuracy, "idea introduced": r.idea} for r in rows]


def story(names: list[str] | None = None) -> list[StoryRow]:
    """The story's rows, oldest first."""
    order = list(FAMILIES)
    return sorted((story_row(n) for n in (names or story_models())), key=lambda r: (r.year, order.index(r.family)))
