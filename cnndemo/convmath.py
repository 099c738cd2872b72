"""Convolution arithmetic: the seed's out = (in - k + 2p)/s + 1 and k*k*c_in*c_out + c_out, where a convolution
or pooling window slides (read from the layer's own forward), and the filled-in formulas and layer descriptions
that the layer table, Explore's feature maps, the Learn tab and the Architecture tab show."""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


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


SHAPED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)  # layers whose output size follows the seed's formula


def describe_layer(model: nn.Module, name: str, in_shape: tuple[int, ...] | None,
                   out_shape: tuple[int, ...]) -> str:
    """Layer type and shape change; for a conv / pool layer (or a block's first one) the formula filled in."""
    module = model.get_submodule(name)
    head = f"{type(module).__name__}: {_shape(in_shape)} -> {_shape(out_shape)}"
    inner = module if isinstance(module, SHAPED) else next(
        ((n, m) for n, m in module.named_modules() if isinstance(m, SHAPED)), None)
    if inner is None:
        return f"{head}\n{_follows(model, name)}".rstrip()
    if not in_shape or len(in_shape) != 4:
        return head
    inner_name, layer = ("", inner) if inner is module else inner
    where = f"first layer inside, {inner_name} ({type(layer).__name__}): " if inner_name else ""
    return f"{head}\n{where}{_kernel_text(layer, in_shape[2:])}\n{_formula(layer, in_shape[2:])}"


def _follows(model: nn.Module, name: str) -> str:
    """For a shape-keeping layer in a Sequential (ReLU, BatchNorm): the conv / pool it follows."""
    parent_name, _, own = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if not isinstance(parent, nn.Sequential) or not own.isdigit():
        return ""
    before = [(i, parent[i]) for i in range(int(own)) if isinstance(parent[i], SHAPED)]
    if not before:
        return ""
    index, layer = before[-1]
    where = f"{parent_name}.{index}" if parent_name else str(index)
    return f"keeps the shape of {where} ({type(layer).__name__}, {_kernel_text(layer)}) before it"


def _kernel_text(layer: nn.Module, in_hw: tuple[int, int] | None = None) -> str:
    """'kernel k, stride s, padding p' of a conv / pool layer, as its forward applies them to an in_hw input
    (padding computed inside forward, such as TensorFlow 'same', included)."""
    window = layer_window(layer, (int(in_hw[0]), int(in_hw[1]))) if in_hw is not None else None
    if window is not None:
        padding = _padding(window.pad_before, window.pad_after)
        return f"kernel {_hw(window.kernel)}, stride {_hw(window.stride)}, {padding}"
    k = as_pair(layer.kernel_size)
    s = as_pair(layer.stride or layer.kernel_size)  # pooling built with stride=None strides by its kernel
    p = layer.padding if isinstance(layer.padding, str) else _hw(as_pair(layer.padding))
    return f"kernel {_hw(k)}, stride {_hw(s)}, padding {p}"


def _padding(before: tuple[int, int], after: tuple[int, int]) -> str:
    """'padding p', or both sides when they differ (TensorFlow 'same' pads one more at the bottom / right)."""
    if before == after:
        return f"padding {_hw(before)}"
    return f"padding {_hw(before)} top/left and {_hw(after)} bottom/right (TensorFlow 'same')"


def _formula(layer: nn.Module, in_hw: tuple[int, ...]) -> str:
    """The seed's out = (in - k + 2p)/s + 1 with the numbers filled in (wording shared with the summary)."""
    try:
        return formula_text(layer, (int(in_hw[0]), int(in_hw[1])))
    except ValueError as err:  # a kernel larger than the padded input
        return str(err)


def _hw(v: tuple[int, int]) -> str:
    """A pair as 'a' or 'axb'."""
    return str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"


def _shape(shape: tuple[int, ...] | None) -> str:
    """A tensor shape without the batch dimension, as C x H x W."""
    return "?" if not shape else " x ".join(str(d) for d in shape[1:])
