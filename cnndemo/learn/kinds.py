"""What each layer or block is (convolution, residual block, Inception module, ...), told from its type and from
what its forward did, never from a model's name; and the colour each kind is drawn in."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn as nn

if TYPE_CHECKING:  # type only: the trace imports this module
    from .trace import Trace

# kind -> fill colour of its box in the diagram (Tableau 10 and lighter tints)
COLOURS = {
    "convolution": "#a0c4e8", "pooling": "#9fd69a", "normalisation": "#f5e08a", "activation": "#f9bd7e",
    "classifier": "#f7b6c2", "dropout": "#d9d4d0", "reshape": "#e4e4e4", "padding": "#e4e4e4",
    "addition": "#f4a3a4", "concatenation": "#d5b3cf", "residual block": "#e15759", "Inception module": "#b07aa1",
    "dense block": "#76b7b2", "dense layer": "#b5dcd8", "transition": "#c9a98b", "stage": "#c7cbe6",
    "conv block": "#c6dbef", "block": "#ececec", "model": "#ffffff", "other": "#f2f2f2",
}
# kinds drawn on a dark fill get white text
DARK = ("residual block", "Inception module", "dense block")
COMPOSITE = ("residual block", "Inception module", "dense layer", "dense block", "transition")

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
                nn.Hardswish, nn.Mish, nn.PReLU, nn.Softmax, nn.LogSoftmax)
_LEAF_KINDS = (
    (nn.Conv2d, "convolution"),
    ((nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LPPool2d), "pooling"),
    ((nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm), "normalisation"),
    (_ACTIVATIONS, "activation"), (nn.Linear, "classifier"),
    ((nn.Dropout, nn.Dropout2d, nn.AlphaDropout), "dropout"), ((nn.Flatten, nn.Unflatten), "reshape"),
)
# functional operations (F.relu in a forward) and the kind of step they are
OP_KINDS = {
    "conv2d": "convolution", "max_pool2d": "pooling", "avg_pool2d": "pooling", "adaptive_avg_pool2d": "pooling",
    "adaptive_max_pool2d": "pooling", "batch_norm": "normalisation", "relu": "activation", "relu6": "activation",
    "hardtanh": "activation", "leaky_relu": "activation", "elu": "activation", "gelu": "activation",
    "silu": "activation", "sigmoid": "activation", "tanh": "activation", "hardswish": "activation",
    "softmax": "activation", "log_softmax": "activation", "linear": "classifier", "dropout": "dropout",
    "add": "addition", "__add__": "addition", "__iadd__": "addition", "cat": "concatenation",
    "concat": "concatenation", "flatten": "reshape", "view": "reshape", "reshape": "reshape", "pad": "padding",
}


def leaf_kind(module: nn.Module) -> str:
    """The kind of a layer without children, from its type."""
    return next((kind for types, kind in _LEAF_KINDS if isinstance(module, types)), "other")


def container_kind(name: str, module: nn.Module, trace: Trace) -> str:
    """The kind of a module with children, from what its forward did (its own additions and concatenations)."""
    call = trace.call(name)
    if call is None and not any(trace.call(f"{name}.{n}") for n, _ in module.named_children()):
        return _unrun_kind(module)
    if call is None:  # a ModuleList: its children run, called one by one from the parent's forward
        return _sequence_kind(name, module, trace)
    own = [s for s in trace.steps[call.first:call.last] if s.owner == name and not s.module]
    for test, kind in ((_residual, "residual block"), (_inception, "Inception module"), (_dense, "dense layer")):
        if any(test(s, call, trace) for s in own):
            return kind
    return _sequence_kind(name, module, trace)


def _residual(step, call, trace: Trace) -> bool:
    """An addition of the block's input (or a projection of it) and a branch that went through a convolution."""
    if step.kind != "addition" or len(step.inputs) != 2:
        return False
    return any(trace.from_input(t, call) for t in step.inputs) and any(
        trace.through_conv(t, call) for t in step.inputs)


def _inception(step, call, trace: Trace) -> bool:
    """A concatenation of two or more parallel branches, none of them the block's input itself."""
    return (step.kind == "concatenation" and len(step.inputs) >= 2 and call.inputs[0] not in step.inputs
            and all(trace.through_conv(t, call) or trace.produced_in(t, call) for t in step.inputs))


def _dense(step, call, trace: Trace) -> bool:
    """A concatenation of the block's input with the new maps computed from it (DenseNet's layer)."""
    return step.kind == "concatenation" and call.inputs[0] in step.inputs and len(step.inputs) >= 2


def _sequence_kind(name: str, module: nn.Module, trace: Trace) -> str:
    """A block made of other blocks (stage), a transition, a classifier, or a conv block."""
    kids = [trace.kind_of(f"{name}.{n}" if name else n, m) for n, m in module.named_children()]
    leaves = [m for m in module.modules() if next(m.children(), None) is None]
    if kids.count("dense layer") >= 2:
        return "dense block"
    if any(k in COMPOSITE for k in kids):
        return "stage"
    if _is_transition(leaves):
        return "transition"
    if any(isinstance(m, nn.Linear) for m in leaves):
        return "classifier"
    return "conv block" if any(isinstance(m, nn.Conv2d) for m in leaves) else "block"


def _is_transition(leaves: list[nn.Module]) -> bool:
    """Only 1x1 convolutions that cut the channels, then a pooling that shrinks the map (DenseNet)."""
    convs = [m for m in leaves if isinstance(m, nn.Conv2d)]
    pools = [m for m in leaves if isinstance(m, (nn.AvgPool2d, nn.MaxPool2d))]
    return (bool(convs) and all(c.kernel_size == (1, 1) and c.out_channels < c.in_channels for c in convs)
            and any(_stride(p) > 1 for p in pools))


def _stride(pool: nn.Module) -> int:
    """A pooling layer's stride (its kernel when built with stride=None)."""
    s = pool.stride or pool.kernel_size
    return s if isinstance(s, int) else max(s)


def _unrun_kind(module: nn.Module) -> str:
    """A block the forward did not run (GoogLeNet's auxiliary heads in eval mode): told from its layers."""
    leaves = [m for m in module.modules() if next(m.children(), None) is None]
    if any(isinstance(m, nn.Linear) for m in leaves):
        return "classifier"
    return "conv block" if any(isinstance(m, nn.Conv2d) for m in leaves) else "block"
