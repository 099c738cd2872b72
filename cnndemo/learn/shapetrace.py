"""The shape trace: every step's output size with the seed's formula filled in, its receptive field and jump."""
from __future__ import annotations

import math
from dataclasses import dataclass

from cnndemo.convmath import window_text

from .trace import Field, Step, Trace


@dataclass(frozen=True)
class LayerRow:
    """One step of the forward: shapes, the formula that gives its output size, receptive field and jump."""

    index: int
    layer: str
    type: str
    kind: str
    input: str
    output: str
    formula: str
    receptive_field: str
    jump: str
    depth: int  # weight layers on the longest path from the input up to here


def shape_trace(trace: Trace) -> list[LayerRow]:
    """One row per step, in the order the forward ran them."""
    return [LayerRow(s.index, s.name, s.op, s.kind, _shape(s.in_shape), _shape(s.out_shape), row_formula(s),
                     field_text(s.rf, "size"), field_text(s.rf, "jump"), s.rf.depth if s.rf else 0)
            for s in trace.steps]


def row_formula(step: Step) -> str:
    """How the step's output size follows from its input: the seed's formula for windows, a sentence otherwise."""
    ins, out = step.in_shape or (), step.out_shape or ()
    if step.window is not None and len(ins) == 4:
        return window_text(step.window, (ins[2], ins[3]))
    if step.kind == "pooling" and len(ins) == 4 and len(out) == 4:
        return f"adaptive pooling: out = {out[2]}x{out[3]} whatever the input size ({ins[2]}x{ins[3]})"
    if step.kind == "classifier":
        return f"fully connected: {ins[-1]:,} inputs -> {out[-1]:,} outputs"
    if step.kind == "reshape" and len(ins) > 2:
        return f"flatten: {' x '.join(map(str, ins[1:]))} = {math.prod(ins[1:]):,} values"
    if step.kind == "concatenation":
        channels = [s[1] for s in step.in_shapes]
        return f"channels {' + '.join(map(str, channels))} = {sum(channels)}"
    if step.kind == "addition":
        return f"element-wise sum of {len(step.in_shapes)} tensors of {_shape(out)}"
    return "keeps the shape"


def field_text(rf: Field | None, what: str) -> str:
    """'196', '7x5' or 'whole image' for a receptive field (what='size') or a jump (what='jump')."""
    if rf is None:
        return "?"
    value = rf.size if what == "size" else rf.jump
    if value is None:
        return "whole image"
    return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"


def _shape(shape: tuple[int, ...] | None) -> str:
    """A shape without the batch: 64x56x56."""
    return "?" if not shape else "x".join(str(d) for d in shape[1:])
