"""One traced forward pass: every module call and every functional step (F.relu, x + skip, torch.cat) in the order
they ran, with shapes, sliding windows, receptive fields and depth, all read from the real forward.

Forward hooks see the modules; a torch function mode sees the operations between and inside them (an F.pad inside
a TensorFlow-'same' convolution, LeNet's F.max_pool2d, a ResNet block's addition)."""
from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from cnndemo.explain.guard import ModelGuard, logits_of
from cnndemo.convmath import Window, window_of_op

from .kinds import OP_KINDS, container_kind, leaf_kind

FOLLOWABLE = ("normalisation", "activation", "pooling")  # what conv_step works out after the convolution
_RESHAPES = ("flatten", "view", "reshape")


@dataclass(frozen=True)
class Field:
    """Receptive field of a tensor: the input pixels one of its values sees, the jump (input pixels between two
    neighbouring values) per axis, where the field of the first value starts (so box() places any value's field),
    and depth: the most weight layers on any path from the input (dense of them fully connected, the rest
    convolutions). size None means the whole input (after global pooling or a fully connected layer)."""

    size: tuple[int, int] | None
    jump: tuple[int, int] | None
    depth: int = 0
    dense: int = 0
    start: tuple[int, int] = (0, 0)  # input row and column of the first pixel that position (0, 0) sees

    def through(self, window: Window) -> Field:
        """After a sliding window: r + (span - 1) * jump, jump * stride; the first window starts pad_before
        values early, so start moves back by pad_before * jump."""
        depth = self.depth + int(window.op == "conv2d")
        if self.size is None or self.jump is None:
            return Field(None, None, depth, self.dense)
        size = tuple(self.size[i] + (window.span(i) - 1) * self.jump[i] for i in (0, 1))
        start = tuple(self.start[i] - window.pad_before[i] * self.jump[i] for i in (0, 1))
        return Field(size, tuple(self.jump[i] * window.stride[i] for i in (0, 1)), depth, self.dense, start)

    def box(self, row: int, col: int, hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """The input pixels position (row, col) sees, as (top, left, bottom, right) with bottom and right
        exclusive, clipped to an input of height and width hw (the whole input when size is None)."""
        if self.size is None or self.jump is None:
            return 0, 0, hw[0], hw[1]
        top, left = (self.start[i] + p * self.jump[i] for i, p in ((0, row), (1, col)))
        return (max(top, 0), max(left, 0), min(top + self.size[0], hw[0]), min(left + self.size[1], hw[1]))


INPUT_FIELD = Field((1, 1), (1, 1), 0)


def merge(fields: Iterable[Field]) -> Field:
    """Where paths meet (addition, concatenation): the largest receptive field and depth over the paths."""
    fields = list(fields)
    deepest = max(fields, key=lambda f: (f.depth, f.dense))
    if any(f.size is None for f in fields):
        return Field(None, None, deepest.depth, deepest.dense)
    size = tuple(max(f.size[i] for f in fields) for i in (0, 1))
    start = tuple(min(f.start[i] for f in fields) for i in (0, 1))  # the paths' fields share a centre in the zoo
    return Field(size, tuple(max(f.jump[i] for f in fields) for i in (0, 1)), deepest.depth, deepest.dense, start)


@dataclass(frozen=True)
class Step:
    """One layer without children, or one functional operation between modules, as it ran."""

    index: int
    name: str  # the module's name, or "<owner>.<op>" for a functional step ("add", "layer1.0.add")
    op: str  # the module's class name, or the function ("max_pool2d", "add", "cat")
    kind: str
    owner: str  # the module whose forward ran it (a layer's parent)
    module: bool  # a module (True) or a functional step (False)
    inputs: tuple[int, ...]  # tags of the tensors it read
    output: int | None
    in_shapes: tuple[tuple[int, ...], ...]
    out_shape: tuple[int, ...] | None
    window: Window | None = None
    rf: Field | None = None
    layer: nn.Module | None = field(default=None, compare=False, repr=False)  # the module, for a module step
    rerun: Callable | None = field(default=None, compare=False, repr=False)  # the op on a new input

    @property
    def in_shape(self) -> tuple[int, ...] | None:
        """The shape of its (first) input."""
        return self.in_shapes[0] if self.in_shapes else None


@dataclass(frozen=True)
class Call:
    """One call of a module (with or without children): steps[first:last] ran inside it."""

    name: str
    inputs: tuple[int, ...]
    output: int | None
    in_shape: tuple[int, ...] | None
    out_shape: tuple[int, ...] | None
    rf: Field | None
    first: int
    last: int
    first_tag: int = 0  # tensors tagged from here on were made inside this call


@dataclass(frozen=True, eq=False)
class Trace:
    """What one forward did, step by step; tensors asked for are kept (by tag)."""

    model: nn.Module = field(repr=False)
    steps: tuple[Step, ...]
    calls: Mapping[str, tuple[Call, ...]]
    kept: Mapping[int, torch.Tensor] = field(repr=False)
    logits: torch.Tensor | None  # None when the trace stopped early (conv_step needs only the start)
    input_shape: tuple[int, ...]
    links: Mapping[int, tuple[int, ...]] = field(default_factory=dict, repr=False)  # tag -> inputs of non-steps
    _kinds: dict = field(default_factory=dict, repr=False)

    def call(self, name: str) -> Call | None:
        """The first call of module name (None when the forward did not run it)."""
        calls = self.calls.get(name)
        return calls[0] if calls else None

    def producer(self, tag: int) -> Step | None:
        """The step whose output is this tensor."""
        return self._producers.get(tag)

    @functools.cached_property
    def _producers(self) -> dict[int, Step]:
        """Tensor tag -> the (last) step that produced it."""
        return {s.output: s for s in self.steps if s.output is not None}

    def tensor(self, tag: int) -> torch.Tensor:
        """A kept tensor."""
        if tag not in self.kept:
            raise KeyError(f"tensor {tag} was not kept by this trace")
        return self.kept[tag]

    def ancestors(self, tag: int, call: Call) -> list[Step]:
        """The steps inside call that this tensor was computed from (nearest first), through any operation."""
        return [s for s in (self.producer(t) for t in self.ancestor_tags(tag, call)) if s is not None]

    def ancestor_tags(self, tag: int, call: Call) -> list[int]:
        """The tensors made inside call that this tensor was computed from, itself included (nearest first)."""
        seen, order, todo = set(), [], [tag]
        while todo:
            t = todo.pop(0)
            if t in seen or t < call.first_tag or t in call.inputs:
                continue
            seen.add(t)
            order.append(t)
            step = self.producer(t)
            todo += list(step.inputs) if step is not None else list(self.links.get(t, ()))
        return order

    def through_conv(self, tag: int, call: Call) -> bool:
        """Was this tensor computed inside call through a convolution?"""
        return any(s.kind == "convolution" for s in self.ancestors(tag, call))

    def produced_in(self, tag: int, call: Call) -> bool:
        """Was this tensor computed inside call?"""
        return bool(self.ancestors(tag, call))

    def from_input(self, tag: int, call: Call) -> bool:
        """Is this tensor call's input itself, or the output of a direct child fed with that input?"""
        if tag == call.inputs[0]:
            return True
        prefix = f"{call.name}." if call.name else ""
        return any(c.output == tag and c.inputs[:1] == call.inputs[:1] and "." not in n[len(prefix):]
                   for n, cs in self.calls.items() if n.startswith(prefix) and n != call.name for c in cs)

    def kind_of(self, name: str, module: nn.Module | None = None) -> str:
        """The kind of module name (memoised): by type for a layer, by what it did for a block."""
        if name not in self._kinds:
            module = module if module is not None else self.model.get_submodule(name)
            leaf = next(module.children(), None) is None
            self._kinds[name] = leaf_kind(module) if leaf else container_kind(name, module, self)
        return self._kinds[name]

    def inside(self, name: str) -> tuple[Step, ...]:
        """The steps that ran inside the first call of module name."""
        call = self.call(name)
        return () if call is None else self.steps[call.first:call.last]


class _Stop(Exception):
    """Ends a trace early once everything asked for is seen."""


class _Ops(TorchFunctionMode):
    """Hands every torch operation of the forward to the tracer (the mode is off inside its own handler)."""

    def __init__(self, tracer: Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self.tracer.busy:
            self.tracer.on_op(func, args, kwargs, out)
        return out


def _tensors(value: Any) -> list[torch.Tensor]:
    """The tensors in an argument or result (lists and tuples opened)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


class Tracer(ModelGuard):
    """Runs one forward with hooks on every module and a function mode; the model is left as it was found.

    keep: module names whose input and output are kept; keep_inside: modules whose direct children's and own
    steps' outputs are kept; follow: a layer after which the normalisation, activation and pooling that come next
    are kept, and the trace stops; until: a module after whose first call the trace stops."""

    def __init__(self, model: nn.Module, keep: Iterable[str] = (), keep_inside: Iterable[str] = (),
                 follow: str | None = None, until: str | None = None) -> None:
        super().__init__(model)
        self.keep, self.keep_inside, self.follow, self.until = set(keep), set(keep_inside), follow, until
        self.busy, self.steps, self.kept = False, [], {}
        self.calls: dict[str, list[Call]] = {}
        self._tags: dict[int, tuple[weakref.ref, int, Field]] = {}
        self._next_tag = 1
        self._pads: dict[int, list[int]] = {}
        self._stack: list[dict] = []
        self._chain: list[int] | None = None
        self._links: dict[int, tuple[int, ...]] = {}
        self._ops: dict[str, int] = {}
        self._leaves = {id(m) for m in model.modules() if next(m.children(), None) is None}

    def run(self, x: torch.Tensor) -> Trace:
        """Trace the forward of x (a [1, C, H, W] model input)."""
        for name, module in self.model.named_modules():
            self._handles.append(module.register_forward_pre_hook(self._pre(name, module)))
            self.hook(module, self._post(name, module))
        self._tag(x, INPUT_FIELD)
        logits = None
        try:
            with torch.no_grad(), _Ops(self):
                logits = logits_of(self.model(x)).detach()
        except _Stop:
            pass
        calls = {n: tuple(c) for n, c in self.calls.items()}
        return Trace(self.model, tuple(self.steps), calls, dict(self.kept), logits, tuple(x.shape),
                     links=dict(self._links))

    # ---- tensor tags: a serial number and a receptive field per tensor (ids are reused, tags are not) ----
    def _tag(self, t: torch.Tensor, f: Field) -> int:
        """Give t a new tag with field f."""
        tag, self._next_tag = self._next_tag, self._next_tag + 1
        self._tags[id(t)] = (weakref.ref(t), tag, f)
        return tag

    def _tag_of(self, t: torch.Tensor) -> tuple[int, Field] | None:
        """(tag, field) of a tensor seen in this forward, else None."""
        entry = self._tags.get(id(t))
        return (entry[1], entry[2]) if entry is not None and entry[0]() is t else None

    # ---- operations ----
    def on_op(self, func: Callable, args: tuple, kwargs: dict, out: Any) -> None:
        """Propagate receptive fields through one operation; record it as a step when it runs between modules."""
        name = getattr(func, "__name__", "")
        ins = [(t, self._tag_of(t)) for t in _tensors((args, kwargs))]
        ins = [(t, tf) for t, tf in ins if tf is not None]
        outs = _tensors(out)
        fresh = [t for t in outs if self._tag_of(t) is None]
        # an in-place step (x += skip) returns its input: it gets a new tag, as a new value
        outs = fresh or (outs[:1] if outs and name in OP_KINDS and any(outs[0] is t for t, _ in ins) else [])
        if not ins or not outs:
            return
        window = window_of_op(name, args, kwargs, self._pads.get(ins[0][1][0], (0, 0, 0, 0)))
        f = self._op_field(name, [tf[1] for _, tf in ins], window, ins[0][0], outs[0])
        tags = [self._tag(t, f) for t in outs]
        for tag in tags:  # every operation links its output to its inputs (a step records them itself)
            self._links[tag] = tuple(tf[0] for _, tf in ins)
        if name == "pad":
            self._pads[tags[0]] = [a + b for a, b in zip(self._pads.get(ins[0][1][0], [0] * 4),
                                                         (list(args[1]) + [0, 0, 0, 0])[:4])]
        top = self._stack[-1] if self._stack else None
        if top is not None and top["leaf"]:
            top["window"] = top["window"] or window
        elif name in OP_KINDS and (name not in _RESHAPES or outs[0].dim() != ins[0][0].dim()):
            self._functional_step(name, func, args, kwargs, ins, outs[0], tags[0], window, f)

    def _op_field(self, name: str, fields: list[Field], window: Window | None, x: torch.Tensor,
                  y: torch.Tensor) -> Field:
        """The receptive field of an operation's output."""
        if window is not None:
            return fields[0].through(window)
        if name == "linear":
            return Field(None, None, fields[0].depth + 1, fields[0].dense + 1)
        if name.startswith("adaptive_") and x.dim() == 4:
            return _adaptive_field(fields[0], tuple(x.shape[-2:]), tuple(y.shape[-2:]))
        return merge(fields)

    def _functional_step(self, name: str, func: Callable, args: tuple, kwargs: dict, ins: list, out: torch.Tensor,
                         tag: int, window: Window | None, f: Field) -> None:
        """Record an operation that ran in a block's own forward (not inside a layer) as a step."""
        owner = self._stack[-1]["name"] if self._stack else ""
        rerun = functools.partial(_rerun, func, args[1:], kwargs) if isinstance(args[0], torch.Tensor) else None
        label = f"{owner}.{name}" if owner else name
        self._ops[label] = self._ops.get(label, 0) + 1  # LeNet's forward runs F.relu four times: relu, relu#2, ...
        label += f"#{self._ops[label]}" if self._ops[label] > 1 else ""
        step = Step(len(self.steps), label, name, OP_KINDS[name], owner, False,
                    tuple(tf[0] for _, tf in ins), tag, tuple(tuple(t.shape) for t, _ in ins), tuple(out.shape),
                    window, f, rerun=rerun)
        self._add_step(step, ins[0][0], out, owner in self.keep_inside)

    # ---- modules ----
    def _pre(self, name: str, module: nn.Module) -> Callable:
        """Forward pre-hook: open a call of module name."""
        def hook(mod, args):
            if self.busy:
                return
            ins = [(t, self._tag_of(t)) for t in _tensors(args)]
            ins = [(t, tf[0]) for t, tf in ins if tf is not None]
            self._stack.append({"name": name, "leaf": id(module) in self._leaves, "first": len(self.steps),
                                "first_tag": self._next_tag,
                                "ins": ins, "window": None})
        return hook

    def _post(self, name: str, module: nn.Module) -> Callable:
        """Forward hook: close the call, record a layer as a step, keep what was asked for."""
        def hook(mod, args, output):
            if self.busy or not self._stack or self._stack[-1]["name"] != name:
                return
            top = self._stack.pop()
            out = next(iter(_tensors(output)), None)
            tf = self._tag_of(out) if out is not None else None
            if out is not None and tf is None:
                tf = (self._tag(out, INPUT_FIELD), INPUT_FIELD)
            if top["leaf"] and top["ins"]:
                self._layer_step(name, module, top, out, tf)
            self._close_call(name, top, out, tf)
        return hook

    def _layer_step(self, name: str, module: nn.Module, top: dict, out: torch.Tensor | None, tf) -> None:
        """A layer without children as a step."""
        owner = self._stack[-1]["name"] if self._stack else ""
        step = Step(len(self.steps), name, type(module).__name__, leaf_kind(module), owner, True,
                    tuple(t for _, t in top["ins"]), tf[0] if tf else None,
                    tuple(tuple(t.shape) for t, _ in top["ins"]), tuple(out.shape) if out is not None else None,
                    top["window"], tf[1] if tf else None, layer=module, rerun=module.forward)
        self._add_step(step, top["ins"][0][0], out, owner in self.keep_inside or name in self.keep)

    def _close_call(self, name: str, top: dict, out: torch.Tensor | None, tf) -> None:
        """Record the call; keep its input and output when asked."""
        in_shape = tuple(top["ins"][0][0].shape) if top["ins"] else None
        call = Call(name, tuple(t for _, t in top["ins"]), tf[0] if tf else None, in_shape,
                    tuple(out.shape) if out is not None else None, tf[1] if tf else None, top["first"],
                    len(self.steps), top["first_tag"])
        self.calls.setdefault(name, []).append(call)
        parent = self._stack[-1]["name"] if self._stack else None
        if out is not None and (name in self.keep or parent in self.keep_inside):
            self._keep(call.output, out)
            if top["ins"]:
                self._keep(top["ins"][0][1], top["ins"][0][0])
        if name == self.until:
            raise _Stop

    def _add_step(self, step: Step, x: torch.Tensor, out: torch.Tensor | None, keep: bool) -> None:
        """Append a step, keep its tensors when asked, and follow the layer conv_step works out."""
        self.steps.append(step)
        if keep and out is not None:
            self._keep(step.output, out)
            self._keep(step.inputs[0], x)
        if step.name == self.follow and self._chain is None:
            self._chain = [step.output]
            self._keep(step.inputs[0], x)
            self._keep(step.output, out)
        elif self._chain is not None and step.inputs[:1] == (self._chain[-1],):
            self._follow(step, out)

    def _follow(self, step: Step, out: torch.Tensor | None) -> None:
        """Keep the next normalisation / activation / pooling after the followed layer; stop at anything else."""
        if step.kind not in FOLLOWABLE or out is None:
            raise _Stop
        self._keep(step.output, out)
        self._chain.append(step.output)
        if step.kind == "pooling" or len(self._chain) == 4:
            raise _Stop

    def _keep(self, tag: int | None, t: torch.Tensor) -> None:
        """Keep a copy of a tensor (later in-place operations must not change it)."""
        if tag is not None and tag not in self.kept:
            self.busy = True
            try:
                self.kept[tag] = t.detach().clone()
            finally:
                self.busy = False


def _rerun(func: Callable, rest: tuple, kwargs: dict, x: torch.Tensor) -> torch.Tensor:
    """A functional step applied again to a new input, with its other arguments as they were."""
    return func(x, *rest, **kwargs)


def _adaptive_field(f: Field, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> Field:
    """Adaptive pooling: nothing when the size is kept, the whole input at 1x1, else its widest window."""
    if in_hw == out_hw:
        return f
    if out_hw == (1, 1):
        return Field(None, None, f.depth, f.dense)
    k = tuple(max(-(-(i + 1) * n // o) - i * n // o for i in range(o)) for n, o in zip(in_hw, out_hw))
    s = tuple(max(1, n // o) for n, o in zip(in_hw, out_hw))
    return f.through(Window("adaptive_pool2d", k, s, (0, 0), (0, 0)))


def trace(model: nn.Module, x: torch.Tensor, keep: Iterable[str] = (), keep_inside: Iterable[str] = (),
          follow: str | None = None, until: str | None = None) -> Trace:
    """Trace one forward of x through model (see Tracer); the model is left as it was found."""
    with Tracer(model, keep, keep_inside, follow, until) as tracer:
        return tracer.run(x)


def shape_model(info) -> tuple[nn.Module, torch.Tensor]:
    """A model's architecture on shape-only 'meta' tensors, and an input of its size: a trace of these gives every
    shape, window and receptive field without weights, arithmetic or the shared (served) model."""
    with torch.device("meta"):
        model = info.builder(num_classes=info.num_classes).eval()
    return model, torch.empty(1, *info.input_size, device="meta")
