"""Layer tables: a torchsummary-style table of any model via torchinfo (the formulas are in cnndemo.convmath)."""
from __future__ import annotations

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
    from . import models  # lazy: the layer table sits above models in the layering

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
