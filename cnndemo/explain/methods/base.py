"""What an attribution method is: one class declaring its name, label, summary and options, and the one registry.

register_method (a class decorator) / methods() / get_method(name) / method_choices() are the only list of methods:
the settings' validation, the UI's choices and labels and the API's accepted values are all read from here.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Mapping

import numpy as np
import torch
import torch.nn as nn

from cnndemo.errors import BadInputError

from ..guard import LogitsOnly, ModelGuard

if TYPE_CHECKING:
    from ..record import ForwardRecord

Value = int | float | bool | str


@dataclass(frozen=True)
class Option:
    """One knob of a method: its name, default (which fixes its type), label for people, and bounds or choices."""

    name: str
    default: Value
    label: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    open_low: bool = False  # low itself is refused (a window of width 0 covers nothing)

    def check(self, value: Any) -> Value:
        """value as this option's type, or BadInputError saying what is allowed."""
        if isinstance(self.default, bool):
            if value not in (True, False):
                raise BadInputError(f"{self.name} must be true or false, got {value!r}")
            return bool(value)
        if self.choices:
            if value not in self.choices:
                raise BadInputError(f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}")
            return str(value)
        return self._number(value)

    def _number(self, value: Any) -> int | float:
        """value as an int / float inside the bounds."""
        kind = type(self.default)
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise BadInputError(f"{self.name} must be a number, got {value!r}") from None
        if isinstance(value, bool) or not np.isfinite(number) or (kind is int and number != float(value)):
            raise BadInputError(f"{self.name} must be a{' whole' if kind is int else ''} number, got {value!r}")
        too_low = self.low is not None and (number <= self.low if self.open_low else number < self.low)
        if too_low or (self.high is not None and number > self.high):
            raise BadInputError(f"{self.name} must be {self.bounds()}, got {value!r}")
        return number

    def bounds(self) -> str:
        """The allowed range in words, e.g. 'between 1 and 1000' or 'in (0, 1]'."""
        if self.open_low:
            return f"in ({self.low:g}, {self.high:g}]"
        return f"between {self.low:g} and {self.high:g}"


class Attribution(ModelGuard):
    """Base of every method: guards the model (eval, frozen weights, no in-place ops, hooks removed) around attribute().

    A subclass declares the class attributes below and overrides attribute(); one that can be read from the
    Explainer's cached forward (Grad-CAM) also overrides from_record().
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""  # for people, e.g. "Grad-CAM++"
    summary: ClassVar[str] = ""  # one line: what it computes
    uses_layer: ClassVar[bool] = False  # whether it reads the CAM layer
    slow: ClassVar[bool] = False  # runs the model many times (the UI says so)
    options: ClassVar[tuple[Option, ...]] = ()
    reduce: ClassVar[str] = "abs"  # how channels fold into one heatmap: "abs" magnitude or "relu" positive part

    def __init__(self, model: nn.Module, cam_layer: str, mean: tuple[float, ...] = (),
                 std: tuple[float, ...] = ()) -> None:
        """Model to explain, the layer CAM-style methods read, and the input normalisation."""
        super().__init__(model)
        self.cam_layer, self.mean, self.std = cam_layer, tuple(mean), tuple(std)

    def __call__(self, x: torch.Tensor, target: int, options: Mapping[str, Any] | None = None) -> np.ndarray:
        """Heatmap H x W in [0, 1] for class target; the model is left as it was found."""
        return self.heat(x, target, options)[0]

    def heat(self, x: torch.Tensor, target: int, options: Mapping[str, Any] | None = None) -> tuple[np.ndarray, float]:
        """The heatmap and the raw attribution value its 1 stands for (to compare maps of several classes)."""
        opts = self.resolve(options or {})
        with self, seeded(x.device):
            attr = self.attribute(x.detach().clone().requires_grad_(), target, opts)
        return to_heat(attr.detach(), self.reduce)

    def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
        """Raw attribution [1, C, H, W] (or [1, 1, H, W]) of x for class target (the function a method overrides)."""
        raise NotImplementedError

    @classmethod
    def from_record(cls, record: ForwardRecord, target: int, options: Mapping[str, Any]) -> np.ndarray | None:
        """The heatmap read from a cached forward, or None when this method must run the model itself."""
        return None

    @classmethod
    def heat_from_record(cls, record: ForwardRecord, target: int,
                         options: Mapping[str, Any]) -> tuple[np.ndarray, float] | None:
        """from_record's heatmap with the raw value its 1 stands for (nan where a method does not say)."""
        heatmap = cls.from_record(record, target, options)
        return None if heatmap is None else (heatmap, float("nan"))

    @classmethod
    def unavailable(cls, model: nn.Module) -> str | None:
        """Why this method is not offered for model (one sentence), or None: it computes what its name says there."""
        return None

    @classmethod
    def resolve(cls, given: Mapping[str, Any]) -> dict[str, Value]:
        """This method's options: the given ones checked, the others at their defaults (other methods' ignored)."""
        return {o.name: o.check(given[o.name]) if o.name in given else o.default for o in cls.options}

    def forward_module(self) -> nn.Module:
        """The model as captum / torchcam should see it: one tensor of class scores out."""
        return LogitsOnly(self.model)


@contextmanager
def seeded(device: torch.device, seed: int = 0) -> Iterator[None]:
    """A fixed random stream inside (noisy methods give the same map for the same picture), the caller's after."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


_REGISTRY: dict[str, type[Attribution]] = {}


def register_method(cls: type[Attribution]) -> type[Attribution]:
    """Class decorator adding a method to the registry; a duplicate name or a clashing option is refused."""
    if not cls.name or not cls.label or not cls.summary:
        raise ValueError(f"{cls.__name__} must declare name, label and summary")
    if cls.name in _REGISTRY:
        raise ValueError(f"method {cls.name!r} is already registered")
    for option in cls.options:
        known = _declared(option.name)
        if known is not None and known != option:
            raise ValueError(f"option {option.name!r} of {cls.name!r} differs from the one other methods declare")
    _REGISTRY[cls.name] = cls
    return cls


def methods() -> tuple[type[Attribution], ...]:
    """Every registered method, in registration order (the order the UI offers them)."""
    return tuple(_REGISTRY.values())


def get_method(name: str) -> type[Attribution]:
    """The method class called name; an unknown name raises BadInputError listing the valid ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise BadInputError(f"unknown method {name!r}; choose one of: {', '.join(_REGISTRY)}") from None


def method_choices() -> list[tuple[str, str]]:
    """(label, name) pairs for a radio or dropdown; methods that run the model many times say so."""
    return [(m.label + (" (slower)" if m.slow else ""), m.name) for m in _REGISTRY.values()]


def option_spec(name: str) -> Option:
    """The Option some registered method declares under name; an unknown name raises BadInputError."""
    option = _declared(name)
    if option is None:
        known = sorted({o.name for m in _REGISTRY.values() for o in m.options})
        raise BadInputError(f"unknown method option {name!r}; the methods take: {', '.join(known)}")
    return option


def _declared(name: str) -> Option | None:
    """The first registered declaration of the option called name, if any."""
    return next((o for m in _REGISTRY.values() for o in m.options if o.name == name), None)


def to_heatmap(attr: torch.Tensor, reduce: str) -> np.ndarray:
    """Fold [1, C, H, W] attributions into an H x W float32 map in [0, 1]."""
    return to_heat(attr, reduce)[0]


def to_heat(attr: torch.Tensor, reduce: str) -> tuple[np.ndarray, float]:
    """to_heatmap's map and the raw value its 1 stands for (the max, or for "abs" the 99th percentile)."""
    a = attr[0].double()
    a = a.abs().sum(dim=0) if reduce == "abs" else torch.relu(a.sum(dim=0))
    scale = float(a.max()) if reduce == "relu" else float(torch.quantile(a.flatten(), 0.99))
    if not np.isfinite(scale) or scale <= 0:
        scale = float(a.max())
    if not np.isfinite(scale) or scale <= 0:
        return np.zeros(a.shape, dtype=np.float32), 0.0
    return np.nan_to_num((a / scale).clamp(0, 1).numpy().astype(np.float32)), scale
