"""What each architecture introduced, shown on this image's forward: a residual block's x, F(x), shortcut and
x + F(x); an Inception module's branches and what its 1x1 reductions save; a dense block's growth; a transition's
compression. Every block is found by its structure (see kinds), every number read from the module and the trace."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from cnndemo.errors import BadInputError

from .figures import maps_image
from .kinds import shortcut
from .trace import Call, Step, Trace, trace


@dataclass(frozen=True)
class Branch:
    """One path through a block (or one tensor of it), its layers, output shape and first channel maps."""

    name: str
    layers: tuple[str, ...]
    shape: tuple[int, ...] | None
    maps: np.ndarray | None = None
    params: int = 0


@dataclass(frozen=True)
class BlockView:
    """A block worked out on this image: its branches, how they join, and the numbers that make its point."""

    block: str
    kind: str
    in_shape: tuple[int, ...] | None
    out_shape: tuple[int, ...] | None
    branches: tuple[Branch, ...]
    merge: str
    facts: tuple[str, ...] = ()
    table: tuple[dict, ...] = ()


def block_view(model: nn.Module, inputs: torch.Tensor, block: str) -> BlockView:
    """The view of one block for this model input (the kind decides which view)."""
    module = dict(model.named_modules()).get(block)
    if module is None or not block:
        raise BadInputError(f"no block {block!r} in this model; pick one from the diagram")
    kids = [f"{block}.{n}" for n, _ in module.named_children()]
    # a ModuleList has no forward of its own: its children are called one by one, the last one ends it
    last = kids[-1] if isinstance(module, (nn.ModuleList, nn.ModuleDict)) and kids else block
    tr = trace(model, inputs, keep=(block, *kids), keep_inside=(block,), until=last)
    call = tr.call(block)
    kind = tr.kind_of(block, module)
    if call is None and not any(tr.call(k) for k in kids):
        raise BadInputError(f"block {block!r} does not run in this forward (it is used in training only)")
    views = {"residual block": residual_view, "Inception module": inception_view, "dense layer": dense_layer_view,
             "dense block": dense_block_view, "transition": transition_view}
    return views.get(kind, sequence_view)(tr, block, kind)


def _own(tr: Trace, call: Call, kind: str) -> Step:
    """The block's own step of this kind (its addition or concatenation)."""
    return next(s for s in tr.steps[call.first:call.last] if s.owner == call.name and s.kind == kind)


def _maps(tr: Trace, tag: int | None, title: str) -> np.ndarray | None:
    """The first channel maps of a kept tensor, as an image titled with what they are (the branch's name)."""
    if tag is None or tag not in tr.kept:
        return None
    return maps_image(tr.tensor(tag)[0].float().cpu().numpy(), title)


def _branch(tr: Trace, name: str, layers: tuple[str, ...], shape, tag: int | None, params: int = 0) -> Branch:
    """A branch with its first channel maps, the picture titled with the branch's name."""
    return Branch(name, layers, shape, _maps(tr, tag, name), params)


def _chain(tr: Trace, tag: int, call: Call) -> tuple[Step, ...]:
    """The steps inside call that computed this tensor, in the order they ran."""
    return tuple(sorted(tr.ancestors(tag, call), key=lambda s: s.index))


def _params(steps: tuple[Step, ...]) -> int:
    """Parameters of the layers among steps (each layer once)."""
    layers = {id(s.layer): s.layer for s in steps if s.layer is not None}
    return sum(p.numel() for m in layers.values() for p in m.parameters(recurse=False))


def _value_at_peak(tr: Trace, *tags: int) -> tuple[tuple[int, ...], list[float]]:
    """The position of the largest |value| of the first tensor and every tensor's value there."""
    first = tr.tensor(tags[0])
    pos = np.unravel_index(int(first.abs().argmax()), tuple(first.shape))
    return tuple(int(p) for p in pos[1:]), [float(tr.tensor(t)[pos]) for t in tags]


def residual_view(tr: Trace, block: str, kind: str) -> BlockView:
    """x, F(x), the shortcut (identity or projection), x + F(x) and the block's output."""
    call = tr.call(block)
    add = next(s for s in tr.steps[call.first:call.last] if s.owner == block and shortcut(s, call, tr))
    short, residual = shortcut(add, call, tr)
    f_steps, s_steps = _chain(tr, residual, call), _chain(tr, short, call)
    identity = short == call.inputs[0]
    s_name = "shortcut: identity (x itself)" if identity else "shortcut: projection " + " + ".join(
        _layer_text(s) for s in s_steps if s.module)
    branches = (_branch(tr, "x (block input)", (), call.in_shape, call.inputs[0]),
                _branch(tr, "F(x): the residual branch", tuple(s.name for s in f_steps),
                        _shape_of(tr, residual, call), residual, _params(f_steps)),
                _branch(tr, s_name, tuple(s.name for s in s_steps), _shape_of(tr, short, call), short,
                        _params(s_steps)),
                _branch(tr, "x + F(x)", (add.name,), add.out_shape, add.output))
    if add.output != call.output:
        branches += (_branch(tr, "block output", (), call.out_shape, call.output),)
    pos, (total, fx, sx) = _value_at_peak(tr, add.output, residual, short)
    facts = (f"F(x) {_hw(add.in_shapes[0])} and the shortcut {_hw(add.in_shapes[1])} have the same shape, so they "
             f"can be added element by element.",
             f"At channel {pos[0]}, row {pos[1]}, column {pos[2]}: {fx:.4f} + {sx:.4f} = {total:.4f}.",
             "The block only has to learn the correction F(x); the shortcut carries x (and its gradient) through "
             "unchanged." if identity else
             "The shapes differ (stride or channels change), so a 1x1 projection reshapes x before the addition.")
    return BlockView(block, kind, call.in_shape, call.out_shape, branches, "x + F(x)", facts)


def _shape_of(tr: Trace, tag: int, call: Call) -> tuple[int, ...] | None:
    """The shape of a tensor of this block (the input, or a step's output)."""
    if tag == call.inputs[0]:
        return call.in_shape
    step = tr.producer(tag)
    return step.out_shape if step else None


def _layer_text(step: Step) -> str:
    """'Conv2d 1x1 stride 2' or 'BatchNorm2d' for one layer."""
    w = step.window
    if w is None:
        return step.op
    return f"{step.op} {w.kernel[0]}x{w.kernel[1]}" + (f" stride {w.stride[0]}" if w.stride[0] > 1 else "")


def _hw(shape: tuple[int, ...]) -> str:
    """A shape without the batch: 64x56x56."""
    return "x".join(str(d) for d in shape[1:])


def inception_view(tr: Trace, block: str, kind: str) -> BlockView:
    """The parallel branches, their shapes, the concatenation, and what each 1x1 reduction saves."""
    call = tr.call(block)
    cat = _own(tr, call, "concatenation")
    branches, table = [], []
    for i, tag in enumerate(cat.inputs, start=1):
        steps = _chain(tr, tag, call)
        name = f"branch {i}: " + " -> ".join(_layer_text(s) for s in steps if s.kind in ("convolution", "pooling"))
        branches.append(_branch(tr, name, tuple(s.name for s in steps), _shape_of(tr, tag, call), tag, _params(steps)))
        saving = reduction_saving(steps, i)
        if saving:
            table.append(saving)
    channels = [s[1] for s in cat.in_shapes]
    merge = f"concatenate along channels: {' + '.join(map(str, channels))} = {sum(channels)}"
    facts = tuple(f"Branch {r['branch']}: the 1x1 reduction to {r['reduced to']} channels saves "
                  f"{r['parameters without'] - r['parameters with']:,} parameters and "
                  f"{r['mult-adds without'] - r['mult-adds with']:,} multiply-adds "
                  f"({r['mult-adds without'] / r['mult-adds with']:.1f}x fewer)." for r in table)
    branches.append(_branch(tr, "concatenation", (cat.name,), cat.out_shape, cat.output))
    return BlockView(block, kind, call.in_shape, call.out_shape, tuple(branches), merge, facts, tuple(table))


def reduction_saving(steps: tuple[Step, ...], branch: int) -> dict | None:
    """A branch that starts with a 1x1 convolution before a larger one, against the same branch without it."""
    convs = [s for s in steps if s.kind == "convolution"]
    if len(convs) < 2 or convs[0].window.kernel != (1, 1) or convs[1].window.kernel == (1, 1):
        return None
    reduce, nxt = convs[0], convs[1]
    c_in, reduced = reduce.in_shape[1], reduce.out_shape[1]
    if reduced >= c_in:  # a 1x1 that widens (seed 004's InceptionA on 10 channels) saves nothing
        return None
    kh, kw = nxt.window.kernel
    groups, bias = nxt.layer.groups, nxt.layer.bias is not None
    without = kh * kw * (c_in // groups) * nxt.out_shape[1] + (nxt.out_shape[1] if bias else 0)
    with_ = _params((reduce, nxt))
    macs_with = conv_mult_adds(reduce) + conv_mult_adds(nxt)
    macs_without = kh * kw * (c_in // groups) * nxt.out_shape[1] * nxt.out_shape[2] * nxt.out_shape[3]
    return {"branch": branch, "input channels": c_in, "reduced to": reduced,
            "next layer": f"{kh}x{kw} conv to {nxt.out_shape[1]}", "parameters with": with_,
            "parameters without": without, "mult-adds with": macs_with, "mult-adds without": macs_without}


def conv_mult_adds(step: Step) -> int:
    """k*k*(c_in/groups) multiply-adds for each of the c_out*H*W output values of a convolution step."""
    kh, kw = step.window.kernel
    return kh * kw * (step.in_shape[1] // step.window.groups) * int(np.prod(step.out_shape[1:]))


def dense_layer_view(tr: Trace, block: str, kind: str) -> BlockView:
    """A dense layer: its input, the k new maps computed from it, and their concatenation."""
    call = tr.call(block)
    cat = _own(tr, call, "concatenation")
    new = next(t for t in cat.inputs if t != call.inputs[0])
    steps = _chain(tr, new, call)
    c_in, k = call.in_shape[1], cat.out_shape[1] - call.in_shape[1]
    branches = (_branch(tr, "x: every earlier map of the block", (), call.in_shape, call.inputs[0]),
                _branch(tr, f"{k} new maps", tuple(s.name for s in steps), _shape_of(tr, new, call), new,
                        _params(steps)),
                _branch(tr, "concatenation", (cat.name,), cat.out_shape, cat.output))
    return BlockView(block, kind, call.in_shape, call.out_shape, branches,
                     f"concatenate: {c_in} + {k} = {c_in + k} channels",
                     (f"This layer adds k = {k} maps (the growth rate) to the {c_in} it receives.",))


def dense_block_view(tr: Trace, block: str, kind: str) -> BlockView:
    """A dense block: the growth rate and the channel count after each layer."""
    call = tr.call(block)
    layers = [c for n, cs in tr.calls.items() if n.startswith(block + ".") and "." not in n[len(block) + 1:]
              for c in cs[:1]]
    layers.sort(key=lambda c: c.first)
    table = tuple({"layer": c.name, "input channels": c.in_shape[1], "new maps": c.out_shape[1] - c.in_shape[1],
                   "output channels": c.out_shape[1]} for c in layers)
    growth = sorted({r["new maps"] for r in table})
    counts = " -> ".join(str(c) for c in [call.in_shape[1]] + [r["output channels"] for r in table])
    facts = (f"Growth rate k = {', '.join(map(str, growth))}: each of the {len(table)} layers adds k maps to "
             f"everything before it.", f"Channels after each layer: {counts}.",
             f"{call.in_shape[1]} + {len(table)} x {growth[0]} = {call.out_shape[1]} channels leave the block."
             if len(growth) == 1 else "")
    branches = (_branch(tr, "block input", (), call.in_shape, call.inputs[0]),
                _branch(tr, "block output (all maps concatenated)", tuple(c.name for c in layers), call.out_shape,
                        call.output))
    return BlockView(block, kind, call.in_shape, call.out_shape, branches, "each layer concatenates its new maps",
                     tuple(f for f in facts if f), table)


def transition_view(tr: Trace, block: str, kind: str) -> BlockView:
    """A transition: the 1x1 convolution's channel compression and the pooling's halving of the map."""
    call = tr.call(block)
    steps = tr.steps[call.first:call.last]
    (c, h, w), (c2, h2, w2) = call.in_shape[1:], call.out_shape[1:]
    facts = (f"Compression: {c} -> {c2} channels (x{c2 / c:.2f}) by a 1x1 convolution.",
             f"Pooling: {h}x{w} -> {h2}x{w2}.", f"{_params(tuple(steps)):,} parameters.")
    branches = (_branch(tr, "input", (), call.in_shape, call.inputs[0]),
                _branch(tr, "output", tuple(s.name for s in steps), call.out_shape, call.output, _params(tuple(steps))))
    return BlockView(block, kind, call.in_shape, call.out_shape, branches, "one path", facts)


def sequence_view(tr: Trace, block: str, kind: str) -> BlockView:
    """Any other block: what each of its children gave, in the order they ran."""
    call = tr.call(block)
    prefix = block + "."
    parts = [(c.first, c.name, c.output, c.out_shape) for n, cs in tr.calls.items()
             if n.startswith(prefix) and "." not in n[len(prefix):] for c in cs]
    parts += [(s.index, s.name, s.output, s.out_shape) for s in tr.steps if s.owner == block and not s.module]
    if not parts and call is not None:  # a single layer: its own output
        parts = [(call.first, block, call.output, call.out_shape)]
    branches = tuple(_branch(tr, name, (name,), shape, tag) for _, name, tag, shape in sorted(parts))
    first = min(parts)[0] if parts else 0
    in_shape = call.in_shape if call else tr.steps[first].in_shape
    out_shape = call.out_shape if call else (branches[-1].shape if branches else None)
    return BlockView(block, kind, in_shape, out_shape, branches, "one after the other")
