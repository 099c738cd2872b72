"""Model-wide ideas computed for the chosen model: VGG's stacked 3x3 convolutions against one larger kernel, and
global average pooling against flatten + fully connected (the seeds' 655,360 against 10,250, for this model)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .trace import INPUT_FIELD, Step, Trace

_BETWEEN = ("normalisation", "activation", "dropout")  # what may sit between two stacked convolutions


def stacked_3x3(trace: Trace) -> list[dict]:
    """Every pair of 3x3 stride-1 convolutions in a row: their receptive field and cost against one 5x5."""
    rows = []
    for first, second in _conv_pairs(trace):
        rf = INPUT_FIELD.through(first.window).through(second.window).size[0]
        c_in, mid, c_out = first.in_shape[1], first.out_shape[1], second.out_shape[1]
        k = rf  # the single kernel that sees as far as the stack
        bias = c_out if second.layer.bias is not None else 0
        two = sum(p.numel() for s in (first, second) for p in s.layer.parameters())
        one = k * k * c_in * c_out + bias
        hw = math.prod(second.out_shape[2:])
        rows.append({"first": first.name, "second": second.name, "channels": f"{c_in} -> {mid} -> {c_out}",
                     "receptive field": rf, "parameters (two 3x3)": two, f"parameters (one {k}x{k})": one,
                     "mult-adds (two 3x3)": 9 * (c_in * mid * math.prod(first.out_shape[2:]) + mid * c_out * hw),
                     f"mult-adds (one {k}x{k})": k * k * c_in * c_out * hw,
                     "activations between": ", ".join(s.op for s in _between(trace, first, second)) or "none"})
    return rows


def _conv_pairs(trace: Trace) -> list[tuple[Step, Step]]:
    """Consecutive 3x3 stride-1 undilated ungrouped convolutions joined only by normalisation / activation."""
    plain = [s for s in trace.steps if s.kind == "convolution" and s.window.kernel == (3, 3)
             and s.window.stride == (1, 1) and s.window.dilation == (1, 1) and s.window.groups == 1]
    pairs = []
    for first in plain:
        nxt = _next_consumer(trace, first)
        while nxt is not None and nxt.kind in _BETWEEN:
            nxt = _next_consumer(trace, nxt)
        if nxt is not None and nxt in plain:
            pairs.append((first, nxt))
    return pairs


def _next_consumer(trace: Trace, step: Step) -> Step | None:
    """The first later step that reads this step's output."""
    return next((s for s in trace.steps[step.index + 1:] if step.output in s.inputs), None)


def _between(trace: Trace, first: Step, second: Step) -> list[Step]:
    """The steps between two stacked convolutions."""
    out, cur = [], _next_consumer(trace, first)
    while cur is not None and cur is not second:
        out.append(cur)
        cur = _next_consumer(trace, cur)
    return out


@dataclass(frozen=True)
class HeadView:
    """How the feature maps reach the classes: flatten + fully connected, or global average pooling first."""

    uses_gap: bool
    maps: tuple[int, int, int]  # C, H, W of the last feature maps
    classes: int  # outputs of the first fully connected layer
    fc_weights: int  # C*H*W*K: flatten + fully connected
    gap_weights: int  # C*K: after global average pooling (the same as a 1x1 convolution to K maps)
    biases: int
    pool: str | None  # the global pooling step, when the model has one
    linear: str


def head_view(trace: Trace) -> HeadView | None:
    """The model's head worked out for its own last feature maps (None for a model without a linear layer)."""
    linear = next((s for s in trace.steps if s.kind == "classifier" and s.op in ("Linear", "linear")), None)
    if linear is None:
        return None
    cur = trace.producer(linear.inputs[0])
    while cur is not None and len(cur.out_shape) != 4:
        cur = trace.producer(cur.inputs[0])
    if cur is None:
        return None
    gap = cur.kind == "pooling" and cur.out_shape[2:] == (1, 1) and cur.in_shape[2:] != (1, 1)
    c, h, w = (cur.in_shape if gap else cur.out_shape)[1:]
    k = linear.out_shape[-1]
    bias = k if getattr(linear.layer, "bias", None) is not None else 0
    return HeadView(gap, (c, h, w), k, c * h * w * k, c * k, bias, cur.name if gap else None, linear.name)


def head_text(view: HeadView) -> str:
    """The comparison as sentences with this model's numbers filled in."""
    (c, h, w), k = view.maps, view.classes
    flat = f"{c} x {h} x {w} x {k} = {view.fc_weights:,} weights"
    pooled = f"{c} x {k} = {view.gap_weights:,} weights"
    ratio = view.fc_weights / max(view.gap_weights, 1)
    if view.uses_gap:
        return (f"This model averages each of its {c} final {h}x{w} maps to one number (global average pooling, "
                f"{view.pool}), so its classifier needs {pooled} + {view.biases:,} biases = "
                f"{view.gap_weights + view.biases:,}: the same as a 1x1 convolution to {k} maps. Flattening the "
                f"{c}x{h}x{w} maps into it instead would need {flat}: {ratio:,.0f} times as many.")
    return (f"This model flattens its {c}x{h}x{w} final maps into the classifier: {flat} + {view.biases:,} biases. "
            f"Averaging each of the {c} maps first (global average pooling) would need {pooled}: "
            f"{ratio:,.0f} times fewer.")
