"""The layer picker for people: every layer the forward runs, in the order it runs it, grouped into stages (a stage
is the run of layers at one map size, and the next one starts where the maps shrink), each with a readable name,
its stage and map size, early / middle / late marked, and its code name kept visible for those who want it."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from .diagram import Block, block_tree, walk
from .trace import Trace, shape_model, trace

HEAD = 0  # the stage number of the head: everything after the last map larger than 1x1
KIND_TEXT = {"stage": "group of blocks"}  # a ResNet 'layer2' is not "stage 1" of the stage it sits in


@dataclass(frozen=True)
class LayerChoice:
    """One layer (or block) of the forward, as the picker shows it."""

    name: str  # the code name the explain methods take
    kind: str  # convolution, residual block, ... (cnndemo.learn.kinds)
    first: int  # the stage its first step ran in (HEAD for the head)
    last: int  # the stage its last step ran in
    stages: int  # how many stages the model has (the head not counted)
    size: str  # its map size, "28x28", "112x112 to 7x7" or "vector"
    part: str  # early, middle, late, or a span such as "early to late"
    label: str  # what a person reads: "Stage 3 of 5 (28x28, middle) · convolution 2 — _blocks.4._project_conv"


def layer_choices(info) -> list[tuple[str, str]]:
    """(label, code name) of every layer the forward runs, in forward order, as a Dropdown takes them."""
    return [(c.label, c.name) for c in layer_list(info)]


@functools.lru_cache(maxsize=32)
def layer_list(info) -> tuple[LayerChoice, ...]:
    """The layers of a registered model (or trained run), traced once on shape-only tensors (no weights, and never
    the served model, which other requests may be using)."""
    model, x = shape_model(info)
    tr = trace(model, x)
    return forward_layers(tr, block_tree(model, tr))


def forward_layers(tr: Trace, root: Block) -> tuple[LayerChoice, ...]:
    """Every module the traced forward ran, in the order it was entered, with its stage and readable name."""
    where = step_stages(tr)
    sizes = stage_sizes(tr, where)
    n = max(where, default=1) or 1
    counts: dict[tuple[int, str], int] = {}
    out = []
    for block in walk(root):
        calls = tr.calls.get(block.name, ())
        if not block.level or not calls:  # the model itself; a ModuleList (no forward of its own); unrun heads
            continue
        ran = [where[i] for c in calls for i in range(c.first, c.last)] or [where[max(calls[0].first - 1, 0)]]
        first, last = min(ran, key=_order), max(ran, key=_order)
        counts[first, block.kind] = counts.get((first, block.kind), 0) + 1
        out.append(_choice(block, first, last, n, sizes, counts[first, block.kind]))
    return tuple(out)


def _order(stage: int) -> float:
    """Stages in forward order: the head comes after every stage."""
    return float("inf") if stage == HEAD else stage


def step_stages(tr: Trace) -> list[int]:
    """The stage of each step: a step whose map is smaller than the stage's opens the next stage (maps of 1x1, such
    as a squeeze-and-excitation's, do not); HEAD for the steps after the last map larger than 1x1."""
    sizes = [_hw(s.out_shape) for s in tr.steps]
    maps = {i for i, hw in enumerate(sizes) if hw and min(hw) > 1}
    end = max(maps, default=-1)
    stage, current, out = 0, None, []
    for i, hw in enumerate(sizes):
        if i in maps and (current is None or hw[0] * hw[1] < current[0] * current[1]):
            stage, current = stage + 1, hw
        out.append(HEAD if i > end else max(stage, 1))
    return out


def stage_sizes(tr: Trace, where: list[int]) -> dict[int, str]:
    """Stage -> its map size ("28x28", the size that opened it); the head's is "after the maps"."""
    sizes = {HEAD: "after the maps"}
    for step, stage in zip(tr.steps, where):
        hw = _hw(step.out_shape)
        if stage != HEAD and stage not in sizes and hw and min(hw) > 1:
            sizes[stage] = f"{hw[0]}x{hw[1]}"
    return sizes


def _hw(shape: tuple[int, ...] | None) -> tuple[int, int] | None:
    """(height, width) of a [N, C, H, W] output, else None."""
    return (shape[2], shape[3]) if shape is not None and len(shape) == 4 else None


def _choice(block: Block, first: int, last: int, n: int, sizes: dict[int, str], count: int) -> LayerChoice:
    """One picker entry: where the layer sits, what it is, and its code name."""
    one = first == last
    size = sizes[first] if one else f"{sizes[first]} to {sizes[last]}"
    part = _part(first, n) if _part(first, n) == _part(last, n) else f"{_part(first, n)} to {_part(last, n)}"
    if one:
        where = f"Head ({size}, {part})" if first == HEAD else f"Stage {first} of {n} ({size}, {part})"
    else:
        where = f"Stages {first}-{last or n} of {n}{' and the head' if last == HEAD else ''} ({size}, {part})"
    what = KIND_TEXT.get(block.kind, block.kind)
    label = f"{where} · {what} {count} — {block.name}"
    return LayerChoice(block.name, block.kind, first, last, n, size, part, label)


def _part(stage: int, n: int) -> str:
    """early / middle / late: the first third of the stages, the middle, the last third (the head is late)."""
    if stage == HEAD:
        return "late"
    position = (stage - 1) / (n - 1) if n > 1 else 0.0
    return "early" if position < 1 / 3 else "late" if position > 2 / 3 else "middle"
