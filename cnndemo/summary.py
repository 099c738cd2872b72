"""Architecture summaries (a torchsummary-style table via torchinfo) and the seed's shape and parameter formulas."""
from __future__ import annotations

import copy
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torchinfo
from torch import nn

_MB = 1024 ** 2  # torchsummary's megabyte, which the seed's figures use
_LINE, _RULE = "-" * 64, "=" * 64


@dataclass(frozen=True)
class Row:
    """One leaf layer: its dotted name, class name, output shape (batch as -1), parameters and mult-adds."""

    name: str
    type: str
    output_shape: tuple
    params: int
    mult_adds: int


@dataclass(frozen=True)
class Summary:
    """Per-layer rows and totals of one forward pass, sizes in MB of 1024**2 bytes (as torchsummary)."""

    rows: tuple[Row, ...]
    total_params: int
    trainable_params: int
    total_mult_adds: int
    input_mb: float
    forward_backward_mb: float
    params_mb: float
    total_mb: float

    def to_text(self, mult_adds: bool = False) -> str:
        """The table as torchsummary prints it (optionally with a mult-adds column and total)."""
        head = f"{'Layer (type)':>20}  {'Output Shape':>25} {'Param #':>15}" + (f" {'Mult-adds':>15}" if mult_adds else "")
        lines = [_LINE, head, _RULE] + [_row_text(i, r, mult_adds) for i, r in enumerate(self.rows, 1)] + [
            _RULE, f"Total params: {self.total_params:,}", f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}"]
        lines += [f"Total mult-adds: {self.total_mult_adds:,}"] if mult_adds else []
        return "\n".join(lines + [
            _LINE, f"Input size (MB): {self.input_mb:0.2f}",
            f"Forward/backward pass size (MB): {self.forward_backward_mb:0.2f}",
            f"Params size (MB): {self.params_mb:0.2f}", f"Estimated Total Size (MB): {self.total_mb:0.2f}", _LINE])


def _row_text(index: int, row: Row, mult_adds: bool) -> str:
    """One torchsummary line: 'Conv2d-1  [-1, 64, 63, 63]  23,296'."""
    text = f"{f'{row.type}-{index}':>20}  {_shape_text(row.output_shape):>25} {row.params:>15,}"
    return text + (f" {row.mult_adds:>15,}" if mult_adds else "")


def _shape_text(shape: tuple) -> str:
    """[-1, 64, 63, 63] for a shape; nested shapes for layers with several outputs."""
    return str(list(shape)) if all(isinstance(s, int) for s in shape) else str([list(s) for s in shape])


def summary(model_or_name: nn.Module | str, input_size: Sequence[int] | None = None) -> Summary:
    """Summarise a model (or a registered model name) for one input of input_size (C, H, W)."""
    if isinstance(model_or_name, str):
        return _named_summary(model_or_name, tuple(input_size) if input_size else None)
    if input_size is None:
        raise ValueError("summary() of a model object needs input_size=(channels, height, width)")
    return _build(model_or_name, _run_torchinfo(model_or_name, tuple(input_size)), tuple(input_size))


@functools.lru_cache(maxsize=32)
def _named_summary(name: str, input_size: tuple[int, ...] | None) -> Summary:
    """Summary of a registered model, cached: building the big ones takes seconds and the result is frozen."""
    from . import models  # lazy: summary sits above models in the layering

    size = input_size or models.model_info(name).input_size
    return summary(models.get_model(name), size)


def _run_torchinfo(model: nn.Module, input_size: tuple[int, ...]) -> torchinfo.ModelStatistics:
    """One batch-1 forward pass through torchinfo, in eval mode, on the model's own device."""
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    try:
        return torchinfo.summary(model, input_size=(1, *input_size), dtypes=[dtype], device=device,
                                 mode="eval", verbose=0, col_names=("output_size", "num_params", "mult_adds"))
    finally:
        # torchinfo keeps the last run per class name; drop it so big models are not held in memory
        getattr(torchinfo.torchinfo, "_cached_forward_pass", {}).pop(type(model).__name__, None)


def _build(model: nn.Module, stats: torchinfo.ModelStatistics, input_size: tuple[int, ...]) -> Summary:
    """Turn torchinfo's layer list into rows and torchsummary-style totals."""
    names = {id(m): n for n, m in model.named_modules()}
    rows = tuple(Row(names.get(li.layer_id, li.var_name or ""), li.class_name, _batchless(li.output_size),
                     li.num_params, li.macs)
                 for li in stats.summary_list if li.is_leaf_layer and li.executed)
    act_bytes = torch.finfo(torch.float32).bits // 8
    input_mb = math.prod(input_size) * act_bytes / _MB
    fwd_bwd_mb = 2 * sum(_numel(r.output_shape) for r in rows) * act_bytes / _MB
    params_mb = sum(p.numel() * p.element_size() for p in _unique_params(model)) / _MB
    return Summary(rows, stats.total_params, stats.trainable_params, stats.total_mult_adds,
                   input_mb, fwd_bwd_mb, params_mb, input_mb + fwd_bwd_mb + params_mb)


def _batchless(size: list) -> tuple:
    """An output size with the batch dimension shown as -1 (nested for layers with several outputs)."""
    if size and all(isinstance(s, int) for s in size):
        return (-1, *size[1:])
    return tuple(_batchless(s) for s in size if isinstance(s, (list, tuple)))


def _numel(shape: tuple) -> int:
    """Elements per sample of a (possibly nested) batchless shape."""
    if all(isinstance(s, int) for s in shape):
        return math.prod(shape[1:]) if shape else 0
    return sum(_numel(s) for s in shape)


def _unique_params(model: nn.Module) -> list[torch.Tensor]:
    """Every parameter once, even when shared between layers."""
    return list({id(p): p for p in model.parameters()}.values())


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False, padding_after: int | None = None) -> int:
    """The seed's out = (in - k + 2p)/s + 1, floored (with dilation: k becomes d*(k-1)+1; ceil for ceil-mode pools).

    padding_after, when given, is the padding at the bottom / right end (TensorFlow 'same' pads one more there)."""
    span = dilation * (kernel - 1) + 1
    room = size + padding + (padding if padding_after is None else padding_after) - span
    out = room // stride + 1
    if ceil_mode:
        out = -(-room // stride) + 1
        out -= (out - 1) * stride >= size + padding  # PyTorch: the last window must start inside the input
    if out < 1:
        raise ValueError(f"a {kernel}x{kernel} kernel (dilation {dilation}) does not fit an input of {size} "
                         f"with padding {padding}")
    return out


def conv_params(kernel: int | tuple[int, int], c_in: int, c_out: int, bias: bool = True, groups: int = 1) -> int:
    """The seed's k*k*c_in*c_out + c_out (c_in per group for grouped convolutions)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    return kh * kw * (c_in // groups) * c_out + (c_out if bias else 0)


def linear_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """Weights n_in*n_out plus n_out biases."""
    return n_in * n_out + (n_out if bias else 0)


@dataclass(frozen=True)
class Window:
    """Where one convolution or pooling window slides, per axis (height, width), as the layer's forward runs it."""

    op: str  # "conv2d", "max_pool2d" or "avg_pool2d"
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad_before: tuple[int, int]  # top, left
    pad_after: tuple[int, int]  # bottom, right (one more than pad_before for TensorFlow 'same' at stride 2)
    dilation: tuple[int, int] = (1, 1)
    ceil_mode: bool = False
    groups: int = 1

    def span(self, axis: int) -> int:
        """Input pixels one window covers along axis: d*(k - 1) + 1."""
        return self.dilation[axis] * (self.kernel[axis] - 1) + 1

    def out_size(self, in_hw: tuple[int, int]) -> tuple[int, int]:
        """The output height and width for an input of in_hw."""
        return tuple(conv_output_size(in_hw[i], self.kernel[i], self.stride[i], self.pad_before[i],
                                      self.dilation[i], self.ceil_mode, self.pad_after[i]) for i in (0, 1))


# positional parameters of the window operations, as torch.nn.functional declares them
_WINDOW_ARGS = {
    "conv2d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
}


def window_of_op(op: str, args: Sequence, kwargs: dict, pads: Sequence[int] = (0, 0, 0, 0)) -> Window | None:
    """The Window of one F.conv2d / F.max_pool2d / F.avg_pool2d call (after an F.pad of pads: left, right,
    top, bottom); None for any other operation."""
    if op not in _WINDOW_ARGS:
        return None
    a = {**dict(zip(_WINDOW_ARGS[op], args)), **kwargs}
    k = tuple(a["weight"].shape[-2:]) if op == "conv2d" else as_pair(a["kernel_size"])
    s = as_pair(a.get("stride") or (1 if op == "conv2d" else k))  # pooling with stride=None strides by its kernel
    d = as_pair(a.get("dilation", 1))
    before, after = _op_padding(a.get("padding", 0), k, d)
    return Window(op, k, s, (before[0] + pads[2], before[1] + pads[0]), (after[0] + pads[3], after[1] + pads[1]),
                  d, bool(a.get("ceil_mode", False)), int(a.get("groups", 1)))


def _op_padding(padding: int | Sequence[int] | str, k: tuple[int, int],
                d: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """(before, after) padding per axis of a padding argument; PyTorch's 'same' puts the odd pixel after."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        total = [d[i] * (k[i] - 1) for i in (0, 1)]
        return (total[0] // 2, total[1] // 2), (total[0] - total[0] // 2, total[1] - total[1] // 2)
    p = as_pair(padding)
    return p, p


class _WindowProbe(torch.overrides.TorchFunctionMode):
    """Records the first window operation a forward runs, with any F.pad applied just before it."""

    def __init__(self) -> None:
        super().__init__()
        self.pads, self.window = [0, 0, 0, 0], None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name == "pad" and self.window is None:
            self.pads = [a + b for a, b in zip(self.pads, (list(args[1]) + [0, 0, 0, 0])[:4])]
        elif self.window is None:
            self.window = window_of_op(name, args, kwargs, self.pads)
        return func(*args, **kwargs)


def layer_window(layer: nn.Module, in_hw: tuple[int, int]) -> Window | None:
    """The Window a conv / pooling layer really applies to an input of in_hw, read from its own forward.

    The forward runs on shape-only 'meta' tensors (no arithmetic, no hooks fired, the layer untouched), so padding
    computed inside forward (TensorFlow 'same') is seen exactly as the layer does it."""
    probe = copy.copy(layer)
    with torch.no_grad():
        probe._parameters = {k: None if v is None else v.to("meta") for k, v in layer._parameters.items()}
        probe._buffers = {k: None if v is None else v.to("meta") for k, v in layer._buffers.items()}
        x = torch.empty(1, getattr(layer, "in_channels", 1), *in_hw, device="meta")
        recorder = _WindowProbe()
        try:
            with recorder:
                probe.forward(x)
        except (RuntimeError, NotImplementedError, TypeError, ValueError):
            return recorder.window  # e.g. a window that does not fit: what was seen before the failure
    return recorder.window


def window_text(window: Window, in_hw: tuple[int, int]) -> str:
    """The seed's formula filled in for a Window on an input of in_hw (one line, or height and width)."""
    parts = [_formula_asym(n, window.kernel[i], window.stride[i], window.pad_before[i], window.pad_after[i],
                           window.dilation[i], window.ceil_mode) if window.pad_before[i] != window.pad_after[i]
             else _formula_1d(n, window.kernel[i], window.stride[i], window.pad_before[i], window.dilation[i],
                              window.ceil_mode) for i, n in enumerate(in_hw)]
    return parts[0] if parts[0] == parts[1] else f"height: {parts[0]}; width: {parts[1]}"


def _formula_asym(size: int, k: int, s: int, before: int, after: int, d: int, ceil: bool) -> str:
    """'out = (in - k + before + after)/s + 1 = out' for uneven padding (TensorFlow 'same')."""
    k_text = str(k) if d == 1 else f"({d}*({k} - 1) + 1)"
    exact = (size - (d * (k - 1) + 1) + before + after) % s == 0
    rounded = "" if exact else f", rounded {'up' if ceil else 'down'}"
    out = conv_output_size(size, k, s, before, d, ceil, padding_after=after)
    return f"out = ({size} - {k_text} + {before} + {after})/{s} + 1 = {out} (padding {before} before, {after} after{rounded})"


def formula_text(layer: nn.Module, in_hw: int | tuple[int, int]) -> str:
    """The filled-in seed formula for a Conv2d or pooling layer, e.g. 'out = (224 - 7 + 2*3)/2 + 1 = 112'.

    The padding is the one the layer's forward really applies (read by layer_window), uneven padding included."""
    h, w = (in_hw, in_hw) if isinstance(in_hw, int) else in_hw
    if getattr(layer, "padding", 0) == "same":
        return f"padding='same' keeps the size: out = in = {h}" + ("" if h == w else f"x{w}")
    window = layer_window(layer, (h, w))
    if window is not None:
        return window_text(window, (h, w))
    k = as_pair(layer.kernel_size)
    s = as_pair(getattr(layer, "stride", None) or k)  # pooling with stride=None strides by its kernel
    p = as_pair(0 if getattr(layer, "padding", 0) == "valid" else getattr(layer, "padding", 0))
    d = as_pair(getattr(layer, "dilation", 1))
    ceil = bool(getattr(layer, "ceil_mode", False))
    parts = [_formula_1d(n, k[i], s[i], p[i], d[i], ceil) for i, n in enumerate((h, w))]
    return parts[0] if parts[0] == parts[1] else f"height: {parts[0]}; width: {parts[1]}"


def as_pair(v: int | Sequence[int]) -> tuple[int, int]:
    """(v, v) for an int, v itself for a pair."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _formula_1d(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> str:
    """'out = (in - k + 2*p)/s + 1 = out' for one side, saying so when the division is rounded."""
    k_text = str(k) if d == 1 else f"({d}*({k} - 1) + 1)"
    exact = (size - (d * (k - 1) + 1) + 2 * p) % s == 0
    rounded = "" if exact else f" (rounded {'up' if ceil else 'down'})"
    return f"out = ({size} - {k_text} + 2*{p})/{s} + 1 = {conv_output_size(size, k, s, p, d, ceil)}{rounded}"


def first_conv_worked(model: nn.Module, info) -> str:
    """The output-size and parameter formulas, filled in for the model's first convolution ('' if it has none)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        return ""
    k, (cin, cout) = conv.kernel_size[0], (conv.in_channels, conv.out_channels)
    params = conv_params(conv.kernel_size, cin, cout, conv.bias is not None, conv.groups)
    return (f"First convolution on a {info.input_size[1]}-pixel input: `{formula_text(conv, info.input_size[1:])}`; "
            f"parameters `{k} x {k} x {cin // conv.groups} x {cout} + {cout if conv.bias is not None else 0}"
            f" = {params:,}`.")


def formulas_text() -> str:
    """Worked examples of the seed formulas in Markdown, every number computed by the functions above."""
    fc, conv = linear_params(1024 * 8 * 8, 10, bias=False), conv_params(1, 1024, 10)
    return f"""
### The two formulas every CNN student needs
**Output size** of a convolution or pooling layer: `out = (in - k + 2p) / s + 1` (rounded down).
AlexNet's first layer on a 256x256 image: `(256 - 11 + 2*2) / 4 + 1 = {conv_output_size(256, 11, 4, 2)}`.

**Parameters** of a convolution: `k x k x c_in x c_out + c_out` (weights plus one bias per kernel).
AlexNet's first layer: `11 x 11 x 3 x 64 + 64 = {conv_params(11, 3, 64):,}`.

**Why 1x1 convolutions save parameters** (GoogLeNet): mapping 1024 maps of 8x8 to 10 classes with a fully
connected layer takes `1024 x 8 x 8 x 10 = {fc:,}` weights; a 1x1 convolution takes
`1 x 1 x 1024 x 10 + 10 = {conv:,}`, {fc / conv:.0f} times fewer.
"""
