"""One convolution worked out on real numbers: the input patch under the kernel, the element-wise products, their
sum plus bias, against the activation the forward really produced; then the batch norm, activation and pooling
window that come next."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from cnndemo.errors import BadInputError
from cnndemo.convmath import Window

from .trace import Step, Trace, trace


@dataclass(frozen=True)
class ChannelTerm:
    """What one input channel adds to the output value: patch x kernel, summed."""

    channel: int
    patch: np.ndarray  # kh x kw input values under the kernel taps (0 where the tap is on padding)
    kernel: np.ndarray  # kh x kw weights
    products: np.ndarray  # patch * kernel
    total: float


@dataclass(frozen=True)
class FollowStep:
    """The step after the convolution (batch norm, activation or pooling) on this value, with its numbers."""

    name: str
    kind: str
    text: str
    value: float  # computed here
    actual: float  # the forward's output at position
    position: tuple[int, int, int]  # (channel, y, x) in that step's output


@dataclass(frozen=True)
class ConvStep:
    """output[channel, y, x] of one Conv2d, as the sum of patch x kernel products plus the bias."""

    layer: str
    channel: int
    y: int
    x: int
    window: Window
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_channels: tuple[int, ...]  # the input channels this output channel reads (its group)
    terms: tuple[ChannelTerm, ...]  # the channels shown, largest |contribution| first
    rest: float  # what the channels not shown add
    total: float  # every product summed
    bias: float
    value: float  # total + bias
    actual: float  # the activation the forward produced, read by a hook
    rows: tuple[int, ...]  # input rows of the kernel taps (outside 0..H-1: padding)
    cols: tuple[int, ...]
    padded: np.ndarray  # kh x kw, True where the tap lies on padding
    follow: tuple[FollowStep, ...]
    around: np.ndarray  # the top channel's input around the window (NaN on padding), for drawing
    origin: tuple[int, int]  # input row and column of around[0, 0]

    @property
    def error(self) -> float:
        """Relative difference between the worked-out value and the real activation."""
        scale = max(abs(self.actual), sum(float(np.abs(t.products).sum()) for t in self.terms), 1e-12)
        return abs(self.value - self.actual) / scale


def conv_layers(model: nn.Module) -> list[str]:
    """Names of every Conv2d of the model, in definition order."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def conv_step(model: nn.Module, inputs: torch.Tensor, layer: str, channel: int, y: int, x: int,
              top: int = 6) -> ConvStep:
    """Work out output[channel, y, x] of Conv2d `layer` for this model input, from one traced forward."""
    conv = _conv(model, layer)
    with exact_convolutions():
        tr = trace(model, inputs, keep=(layer,), follow=layer)
    step = next((s for s in tr.steps if s.name == layer), None)
    if step is None or step.window is None:
        raise BadInputError(f"layer {layer!r} does not run for this input; pick another convolution")
    _check_position(step, channel, y, x)
    xin = tr.tensor(step.inputs[0])[0].double().cpu()
    w = step.window
    rows = tuple(y * w.stride[0] - w.pad_before[0] + i * w.dilation[0] for i in range(w.kernel[0]))
    cols = tuple(x * w.stride[1] - w.pad_before[1] + j * w.dilation[1] for j in range(w.kernel[1]))
    group = channel // (conv.out_channels // conv.groups)
    per_group = conv.in_channels // conv.groups
    chans = tuple(range(group * per_group, (group + 1) * per_group))
    weight = conv.weight.detach()[channel].double().cpu()
    terms = [_term(xin, weight[j], c, rows, cols, conv.padding_mode) for j, c in enumerate(chans)]
    terms.sort(key=lambda t: -abs(t.total))
    total = float(sum(t.total for t in terms))
    bias = float(conv.bias.detach()[channel]) if conv.bias is not None else 0.0
    actual = float(tr.tensor(step.output)[0, channel, y, x])
    padded = ~(np.array([0 <= r < xin.shape[1] for r in rows])[:, None] &
               np.array([0 <= c < xin.shape[2] for c in cols])[None, :])
    shown = tuple(terms[:max(1, top)])
    around, origin = _around(xin[shown[0].channel].numpy(), rows, cols, w)
    return ConvStep(layer, channel, y, x, w, step.in_shape, step.out_shape, chans, shown,
                    total - sum(t.total for t in shown), total, bias, total + bias, actual, rows, cols, padded,
                    _follow(tr, step, (channel, y, x), actual), around, origin)


def _around(plane: np.ndarray, rows: tuple[int, ...], cols: tuple[int, ...], w: Window) -> tuple[np.ndarray, tuple]:
    """The input around the window (one stride and a pixel more on each side), NaN where padding lies."""
    h, wd = plane.shape
    r0 = max(rows[0] - w.stride[0] - 1, -w.pad_before[0])
    c0 = max(cols[0] - w.stride[1] - 1, -w.pad_before[1])
    r1 = min(rows[-1] + w.stride[0] + 2, h + w.pad_after[0])
    c1 = min(cols[-1] + w.stride[1] + 2, wd + w.pad_after[1])
    out = np.full((r1 - r0, c1 - c0), np.nan)
    ir0, ic0 = max(r0, 0), max(c0, 0)
    out[ir0 - r0:min(r1, h) - r0, ic0 - c0:min(c1, wd) - c0] = plane[ir0:min(r1, h), ic0:min(c1, wd)]
    return out, (r0, c0)


def exact_convolutions():
    """A context with cuDNN's TF32 off: on a GPU the traced activation is then true float32, as the worked sum
    (TF32 keeps 10 mantissa bits and would differ from it by about 1e-3)."""
    b = torch.backends.cudnn
    return b.flags(enabled=b.enabled, benchmark=b.benchmark, deterministic=b.deterministic, allow_tf32=False)


def _conv(model: nn.Module, layer: str) -> nn.Conv2d:
    """The Conv2d called layer, or a sentence naming a few that exist."""
    module = dict(model.named_modules()).get(layer)
    if not isinstance(module, nn.Conv2d):
        names = conv_layers(model)
        raise BadInputError(f"{layer!r} is not a convolution of this model; pick one of: "
                            f"{', '.join(names[:8])}{' ...' if len(names) > 8 else ''}")
    return module


def _check_position(step: Step, channel: int, y: int, x: int) -> None:
    """A clear sentence for a channel or position outside the layer's output."""
    _, c, h, w = step.out_shape
    if not 0 <= channel < c:
        raise BadInputError(f"{step.name} has {c} output channels (0..{c - 1}); channel {channel} is not one")
    if not (0 <= y < h and 0 <= x < w):
        raise BadInputError(f"{step.name}'s output is {h}x{w}: pick y in 0..{h - 1} and x in 0..{w - 1}")


def _term(xin: torch.Tensor, kernel: torch.Tensor, c: int, rows: tuple[int, ...], cols: tuple[int, ...],
          mode: str) -> ChannelTerm:
    """The patch of input channel c under the kernel taps (padding as the layer pads) and its products."""
    h, w = xin.shape[1:]
    r = np.array([_source(i, h, mode) for i in rows])
    q = np.array([_source(j, w, mode) for j in cols])
    inside = (r >= 0)[:, None] & (q >= 0)[None, :]
    patch = np.where(inside, xin[c].numpy()[np.clip(r, 0, None)][:, np.clip(q, 0, None)], 0.0)
    products = patch * kernel.numpy()
    return ChannelTerm(c, patch, kernel.numpy(), products, float(products.sum()))


def _source(i: int, n: int, mode: str) -> int:
    """Which input index a tap at i reads (-1: a zero of the padding), for each padding_mode of Conv2d."""
    if 0 <= i < n or mode == "zeros":
        return i if 0 <= i < n else -1
    if mode == "replicate":
        return min(max(i, 0), n - 1)
    if mode == "circular":
        return i % n
    period = 2 * (n - 1)  # reflect: mirror without repeating the edge
    i = abs(i) % period if period else 0
    return period - i if i >= n else i


def _follow(tr: Trace, conv: Step, pos: tuple[int, int, int], value: float) -> tuple[FollowStep, ...]:
    """The kept steps after the convolution, each worked out on the value the step before produced."""
    out, tag = [], conv.output
    for step in tr.steps[conv.index + 1:]:
        if step.inputs[:1] != (tag,) or step.output not in tr.kept:
            continue
        worked = _work(tr, step, pos, value)
        if worked is None:
            break
        out.append(worked)
        tag, pos, value = step.output, worked.position, worked.actual
    return tuple(out)


def _work(tr: Trace, step: Step, pos: tuple[int, int, int], v: float) -> FollowStep | None:
    """One follow-up step on the value v at pos."""
    if step.kind == "pooling":
        return _pool(tr, step, pos)
    c, y, x = pos
    actual = float(tr.tensor(step.output)[0, c, y, x])
    if step.kind == "normalisation" and isinstance(step.layer, nn.modules.batchnorm._BatchNorm):
        value, text = _batch_norm(step.layer, c, v)
    else:
        value = float(step.rerun(torch.tensor(v, dtype=torch.float64).reshape(1, 1, 1, 1)).reshape(-1)[0])
        text = _activation_text(step, v, value)
    return FollowStep(step.name, step.kind, text, value, actual, pos)


def _batch_norm(bn: nn.modules.batchnorm._BatchNorm, c: int, v: float) -> tuple[float, str]:
    """(v - mean) / sqrt(var + eps) * gamma + beta with the layer's running statistics."""
    mean, var = float(bn.running_mean[c]), float(bn.running_var[c])
    gamma = float(bn.weight.detach()[c]) if bn.weight is not None else 1.0
    beta = float(bn.bias.detach()[c]) if bn.bias is not None else 0.0
    value = (v - mean) / np.sqrt(var + bn.eps) * gamma + beta
    return value, (f"({v:.4f} - {mean:.4f}) / sqrt({var:.4f} + {bn.eps:g}) x {gamma:.4f} + {beta:.4f} "
                   f"= {value:.4f}")


def _activation_text(step: Step, v: float, value: float) -> str:
    """ReLU(v) = max(0, v) = ..., written for the common activations."""
    layer = step.layer
    if isinstance(layer, nn.Hardtanh) or step.op in ("relu6", "hardtanh"):
        lo, hi = (layer.min_val, layer.max_val) if isinstance(layer, nn.Hardtanh) else (0.0, 6.0)
        return f"{step.op}({v:.4f}) = min(max({lo:g}, {v:.4f}), {hi:g}) = {value:.4f}"
    if isinstance(layer, nn.ReLU) or step.op == "relu":
        return f"ReLU({v:.4f}) = max(0, {v:.4f}) = {value:.4f}"
    return f"{step.op}({v:.4f}) = {value:.4f}"


def _pool(tr: Trace, step: Step, pos: tuple[int, int, int]) -> FollowStep | None:
    """The pooling window that holds this position: its values, and their max or average."""
    c, y, x = pos
    xin = tr.tensor(step.inputs[0])[0, c].double().cpu().numpy()
    out = tr.tensor(step.output)[0, c]
    spans = [_pool_span(step, axis, p, xin.shape[axis], out.shape[axis]) for axis, p in enumerate((y, x))]
    if None in spans:
        return None
    (oy, r0, r1, ry), (ox, c0, c1, cx) = spans
    values = xin[r0:r1:ry, c0:c1:cx]
    actual = float(out[oy, ox])
    if step.op.startswith("max") or "Max" in step.op:
        value, how = float(values.max()), "max"
    else:
        value, how = float(values.sum() / _divisor(step, spans, xin.shape)), "average"
    shown = " ".join(np.array2string(values, precision=3, max_line_width=400, threshold=25,
                                     separator=", ").split())
    text = f"{how} of the {values.shape[0]}x{values.shape[1]} window at rows {r0}..{r1 - 1}, " \
           f"columns {c0}..{c1 - 1}: {shown} -> {value:.4f}"
    return FollowStep(step.name, step.kind, text, value, actual, (c, oy, ox))


def _pool_span(step: Step, axis: int, p: int, n_in: int, n_out: int) -> tuple[int, int, int, int] | None:
    """(output index, first input index, end, step) of the first pooling window along axis that holds p."""
    w = step.window
    for o in range(n_out):
        if w is None:  # adaptive pooling: PyTorch's start = floor(o*n/out), end = ceil((o+1)*n/out)
            start, end, d = o * n_in // n_out, -(-(o + 1) * n_in // n_out), 1
        else:
            start, d = o * w.stride[axis] - w.pad_before[axis], w.dilation[axis]
            end = start + w.span(axis)
        if start <= p < end and (p - start) % d == 0:
            first = start + d * max(0, -(start // d))  # the first tap inside the input
            return o, first, min(end, n_in), d
    return None


def _divisor(step: Step, spans: list, shape: tuple[int, int]) -> int:
    """How many values an average pool divides by (PyTorch counts padding unless count_include_pad=False)."""
    w = step.window
    if w is None or not getattr(step.layer, "count_include_pad", True):
        return (spans[0][2] - spans[0][1]) * (spans[1][2] - spans[1][1])
    sizes = []
    for axis in (0, 1):
        start = spans[axis][0] * w.stride[axis] - w.pad_before[axis]
        sizes.append(min(start + w.kernel[axis], shape[axis] + w.pad_after[axis]) - start)
    return sizes[0] * sizes[1]
