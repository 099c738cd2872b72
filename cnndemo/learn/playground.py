"""The hyperparameter playground: kernel size, stride, padding and dilation on a small square input."""
from __future__ import annotations

from dataclasses import dataclass

from cnndemo.errors import BadInputError
from cnndemo.convmath import Window, window_text

LIMITS = {"size": (1, 32), "kernel": (1, 11), "stride": (1, 8), "padding": (0, 8), "dilation": (1, 5)}


@dataclass(frozen=True)
class Playground:
    """One setting of the sliders and the output size it gives, with the formula filled in."""

    size: int
    kernel: int
    stride: int
    padding: int
    dilation: int
    out: int
    formula: str


def playground(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> Playground:
    """The output size of a size x size input under these settings; a sentence for impossible ones."""
    values = {"size": size, "kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation}
    for name, value in values.items():
        lo, hi = LIMITS[name]
        if value is None or int(value) != value or not lo <= value <= hi:
            raise BadInputError(f"{name} must be a whole number from {lo} to {hi}, not {value}")
    size, kernel, stride, padding, dilation = (int(values[n]) for n in LIMITS)
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * padding:
        raise BadInputError(
            f"A {kernel}x{kernel} kernel{f' with dilation {dilation}' if dilation > 1 else ''} spans {span} pixels, "
            f"but the padded input is only {size + 2 * padding} wide ({size} + 2*{padding}): it does not fit. "
            f"Use a smaller kernel or dilation, or more padding.")
    window = Window("conv2d", (kernel, kernel), (stride, stride), (padding, padding), (padding, padding),
                    (dilation, dilation))
    out = window.out_size((size, size))[0]
    return Playground(size, kernel, stride, padding, dilation, out, window_text(window, (size, size)))


def playground_outcome(size: int, kernel: int, stride: int, padding: int,
                       dilation: int = 1) -> tuple[str, Playground | None]:
    """What the playground shows for one setting: the formula and the output size, or only the refusal (no formula
    of an earlier setting may stay on screen beside it), with the result to draw (None when refused)."""
    try:
        result = playground(size, kernel, stride, padding, dilation)
    except BadInputError as err:
        return f"**Not possible:** {err}", None
    return f"`{result.formula}`: a {size}x{size} input gives a {result.out}x{result.out} output.", result
