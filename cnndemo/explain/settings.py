"""What an attribution request asks for, as a frozen, validated value; the methods' registry checks its options."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from cnndemo.errors import BadInputError

from .methods import get_method, option_spec
from .render import colour_map

Options = tuple[tuple[str, Any], ...]


@dataclass(frozen=True, init=False)
class ExplainSettings:
    """One attribution request: method, CAM layer, class, display, and the method options (name, value) pairs.

    Options come as options=(("ig_steps", 16),) or {"ig_steps": 16}, or as keywords (ig_steps=16); each is checked
    by the Option a registered method declares under that name, and the chosen method reads the ones it declares.
    """

    method: str = "gradcam"
    layer: str | None = None  # CAM layer for methods that read one; None -> the model's metadata
    target: int | str | None = None  # class index or class name; None -> top-1 prediction
    opacity: float = 0.5
    top_k: int = 5
    colormap: str = "jet"
    options: Options = ()

    def __init__(self, method: str = "gradcam", layer: str | None = None, target: int | str | None = None,
                 opacity: float = 0.5, top_k: int = 5, colormap: str = "jet",
                 options: Options | Mapping[str, Any] = (), **knobs: Any) -> None:
        """Store and check the request; keyword knobs (ig_steps=16) join the options."""
        fields = dict(method=method, layer=layer, target=target, opacity=opacity, top_k=top_k, colormap=colormap,
                      options=checked_options({**dict(options), **knobs}))
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        get_method(self.method)  # an unknown method raises BadInputError listing the registered ones
        colour_map(self.colormap)  # so does an unknown colour map (nothing may be drawn until much later)
        _check(0.0 <= self.opacity <= 1.0, f"opacity must be between 0 and 1, got {self.opacity}")
        _check(1 <= self.top_k <= 1000, f"top_k must be between 1 and 1000, got {self.top_k}")

    def option(self, name: str) -> Any:
        """The value of one method option: the one given, or its declared default."""
        return dict(self.options).get(name, option_spec(name).default)

    def method_options(self) -> dict[str, Any]:
        """The chosen method's options, the unset ones at their defaults."""
        return get_method(self.method).resolve(dict(self.options))

    def heatmap_key(self) -> ExplainSettings:
        """These settings with display-only fields and other methods' options reset: equal keys, same heatmap."""
        return replace(self, opacity=0.5, top_k=5, colormap="jet",
                       options=tuple(sorted(self.method_options().items())))


def checked_options(given: Mapping[str, Any]) -> Options:
    """(name, value) pairs sorted by name, each value checked by its declared Option."""
    return tuple(sorted((str(name), option_spec(str(name)).check(value)) for name, value in given.items()))


def _check(ok: bool, message: str) -> None:
    """Raise BadInputError with message unless ok."""
    if not ok:
        raise BadInputError(message)
