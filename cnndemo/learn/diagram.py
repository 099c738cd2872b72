"""The architecture diagram: the real module tree with each block's kind, output shape and parameters from one
traced forward, as rows and as hand-written SVG (no graphviz, no system binary)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator
from xml.sax.saxutils import escape

import torch.nn as nn

from .kinds import COLOURS, DARK
from .trace import Step, Trace

OP_TYPES = {"add": "x + y", "__add__": "x + y", "__iadd__": "x += y", "cat": "torch.cat", "concat": "torch.cat",
            "flatten": "torch.flatten", "view": "view", "reshape": "reshape"}

ROW_H, GAP, INDENT, WIDTH, TOP = 26, 4, 18, 780, 58


@dataclass(frozen=True)
class Block:
    """One module of the tree: where it sits, what it is, what it gave on this forward."""

    name: str  # dotted module name ("" for the model)
    label: str  # its own attribute name
    type: str
    kind: str
    level: int  # 0 the model, 1 its children, ...
    out_shape: tuple[int, ...] | None  # None: the forward did not run it
    params: int
    calls: int
    children: tuple[Block, ...] = ()


def block_tree(model: nn.Module, trace: Trace) -> Block:
    """The whole module tree of model with what the traced forward did in each block."""
    return _block(model, "", 0, trace)


def _block(module: nn.Module, name: str, level: int, trace: Trace) -> Block:
    """One block and, recursively, what ran inside it (its children and its own steps, in the order they ran)."""
    kids = [_block(m, f"{name}.{n}" if name else n, level + 1, trace) for n, m in module.named_children()]
    kids += [_op_block(s, level + 1) for s in trace.steps if s.owner == name and not s.module]
    kids.sort(key=lambda b: _order(b, trace))  # stable: blocks the forward skipped stay in definition order
    calls = trace.calls.get(name, ())
    shape = calls[0].out_shape if calls else next((k.out_shape for k in reversed(kids) if k.out_shape), None)
    params = sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())
    kind = "model" if level == 0 else trace.kind_of(name, module)
    return Block(name, name.rpartition(".")[2] or type(module).__name__, type(module).__name__, kind, level,
                 shape, params, len(calls), tuple(kids))


def _op_block(step: Step, level: int) -> Block:
    """A functional step of a block's own forward (x + skip, torch.cat, LeNet's F.max_pool2d) as a row."""
    return Block(step.name, step.name.rpartition(".")[2], OP_TYPES.get(step.op, f"F.{step.op}"), step.kind, level,
                 step.out_shape, 0, 1)


def _order(block: Block, trace: Trace) -> float:
    """When a block first ran (its first step); blocks that never ran go last."""
    calls = trace.calls.get(block.name)
    if calls:
        return calls[0].first
    step = next((s for s in trace.steps if s.name == block.name and not s.module), None)
    if step is not None:
        return step.index
    return min((_order(k, trace) for k in block.children), default=float("inf"))


def walk(block: Block) -> Iterator[Block]:
    """The block and all blocks inside it, in order."""
    yield block
    for child in block.children:
        yield from walk(child)


def find(root: Block, name: str) -> Block:
    """The block called name; a clear error listing a few valid names otherwise."""
    for block in walk(root):
        if block.name == name:
            return block
    names = ", ".join(b.name for b in root.children)
    raise ValueError(f"no block {name!r} in this model; top-level blocks: {names}")


def visible(root: Block, depth: int = 1, open_blocks: Iterable[str] = ()) -> list[Block]:
    """The rows shown: blocks down to depth, plus the inside of each open block (and the path to it)."""
    opened = {b for name in open_blocks if name for b in _path(name)}
    rows: list[Block] = []

    def visit(block: Block) -> None:
        for child in block.children:
            rows.append(child)
            if child.level < depth or child.name in opened:
                visit(child)
    visit(root)
    return rows


def _path(name: str) -> list[str]:
    """A block and its ancestors: 'a.b.c' -> ['a', 'a.b', 'a.b.c']."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def shape_text(shape: tuple[int, ...] | None) -> str:
    """An output shape without the batch: '64x56x56'; 'not run' for a block the forward skipped."""
    return "not run (training only)" if shape is None else "x".join(str(d) for d in shape[1:])


def block_rows(root: Block, depth: int | None = None, open_blocks: Iterable[str] = ()) -> list[dict]:
    """The blocks as table rows (every block when depth is None)."""
    blocks = list(walk(root))[1:] if depth is None else visible(root, depth, open_blocks)
    return [{"block": b.name, "level": b.level, "type": b.type, "kind": b.kind, "output": shape_text(b.out_shape),
             "parameters": b.params, "calls": b.calls} for b in blocks]


def diagram_svg(root: Block, depth: int = 1, open_blocks: Iterable[str] = (), selected: str | None = None,
                title: str = "") -> str:
    """The diagram as an SVG document: nested rows coloured by kind, frames around opened blocks."""
    rows = visible(root, depth, open_blocks)
    y_of = {b.name: TOP + i * (ROW_H + GAP) for i, b in enumerate(rows)}
    height = TOP + len(rows) * (ROW_H + GAP) + 8
    # width 100% with a viewBox: the drawing scales to its box (a narrow column, a projector)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {WIDTH} {height}" '
             f'style="max-width:{WIDTH}px" font-family="sans-serif" font-size="12" role="img">',
             _header(root, title), _legend(rows)]
    parts += [_frame(b, y_of) for b in rows if b.children and b.children[0].name in y_of]
    parts += [_row(b, y_of[b.name], b.name == selected) for b in rows]
    return "\n".join(parts + ["</svg>"])


def _header(root: Block, title: str) -> str:
    """The model's name, output and parameter count."""
    text = f"{title or root.type}: {len(root.children)} top-level blocks, {root.params:,} parameters"
    return f'<text x="4" y="16" font-size="14" font-weight="bold">{escape(text)}</text>'


def _legend(rows: list[Block]) -> str:
    """Colour chips for the kinds on show."""
    kinds = list(dict.fromkeys(b.kind for b in rows))
    items, x, y = [], 4, 30
    for kind in kinds:
        w = 18 + 7 * len(kind)
        if x + w > WIDTH:
            x, y = 4, y + 14
        items.append(f'<rect x="{x}" y="{y}" width="12" height="10" fill="{COLOURS.get(kind, "#eee")}" '
                     f'stroke="#555" stroke-width="0.5"/><text x="{x + 15}" y="{y + 9}" font-size="10">'
                     f'{escape(kind)}</text>')
        x += w
    return "\n".join(items)


def _frame(block: Block, y_of: dict[str, int]) -> str:
    """A frame from an opened block's row down to its last visible descendant."""
    last = max(y for name, y in y_of.items() if name.startswith(block.name + "."))
    x = 2 + INDENT * (block.level - 1)
    top = y_of[block.name] - 2
    return (f'<rect x="{x}" y="{top}" width="{WIDTH - 2 * x}" height="{last + ROW_H + 4 - top}" rx="6" '
            f'fill="{COLOURS.get(block.kind, "#eee")}" fill-opacity="0.18" stroke="#777" stroke-dasharray="3 2"/>')


def _row(block: Block, y: int, selected: bool) -> str:
    """One block's box: name and type on the left; kind, output shape and parameters on the right."""
    x = 6 + INDENT * (block.level - 1)
    fill = COLOURS.get(block.kind, "#eee")
    ink = "#fff" if block.kind in DARK else "#111"
    times = f" x{block.calls}" if block.calls > 1 else ""
    right = f"{block.kind} | {shape_text(block.out_shape)} | {block.params:,} params"
    tip = f"{block.name} ({block.type}, {block.kind}{times}): output {shape_text(block.out_shape)}, " \
          f"{block.params:,} parameters"
    stroke = 'stroke="#d62728" stroke-width="3"' if selected else 'stroke="#444" stroke-width="0.8"'
    return (f'<g data-block="{escape(block.name)}"><title>{escape(tip)}</title>'
            f'<rect x="{x}" y="{y}" width="{WIDTH - 2 * x}" height="{ROW_H}" rx="4" fill="{fill}" {stroke}/>'
            f'<text x="{x + 8}" y="{y + 17}" fill="{ink}"><tspan font-weight="bold">{escape(block.label)}</tspan>'
            f' {escape(block.type)}{times}</text>'
            f'<text x="{WIDTH - x - 8}" y="{y + 17}" fill="{ink}" text-anchor="end">{escape(right)}</text></g>')
