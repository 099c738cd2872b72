"""The attribution-method registry: every method self-describes, and a new one needs only its class.

throwaway_method() is the helper other tests reuse (the app test registers it before building the demo and checks
the Explore tab offers it and /attribute accepts it).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import numpy as np
import pytest
import torch
import torch.nn as nn

from cnndemo.errors import BadInputError
from cnndemo.explain import (Attribution, Explainer, ExplainSettings, Option, get_method, hooks_left,
                             method_choices, methods, register_method, to_heatmap)
from cnndemo.explain.methods import base

THROWAWAY = "test_input_energy"


@contextmanager
def throwaway_method(name: str = THROWAWAY) -> Iterator[type[Attribution]]:
    """Register a small honest method (|x| ** power per pixel) for the duration of the block, then remove it."""
    class InputEnergy(Attribution):
        """How far each pixel is from the data set's mean colour, raised to a power (reads no gradient)."""

        label, summary, reduce = "Input energy (test)", "Per-pixel |x| ** power of the normalised input.", "relu"
        options = (Option("test_power", 1.0, "Power", low=0.5, high=4.0),)

        @classmethod
        def from_record(cls, record, target: int, options: Mapping[str, Any]) -> np.ndarray:
            """Read from the cached input: no forward pass."""
            return to_heatmap(cls.energy(record.x, options), cls.reduce)

        def attribute(self, x: torch.Tensor, target: int, options: Mapping[str, Any]) -> torch.Tensor:
            """The same map computed from x (the path taken without a record)."""
            return self.energy(x, options)

        @staticmethod
        def energy(x: torch.Tensor, options: Mapping[str, Any]) -> torch.Tensor:
            """[1, 1, H, W]: sum_c |x_c| ** power."""
            return x.detach().abs().pow(options["test_power"]).sum(dim=1, keepdim=True)

    InputEnergy.name = name
    register_method(InputEnergy)
    try:
        yield InputEnergy
    finally:
        base._REGISTRY.pop(name, None)


class Net(nn.Module):
    """A tiny colour net that counts its forwards."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def explainer() -> tuple[Net, Explainer]:
    """A seeded Net and its explainer."""
    from cnndemo.models import ModelInfo

    torch.manual_seed(0)
    model = Net().eval()
    info = ModelInfo(name="net", family="test", builder=Net, input_size=(3, 8, 8), classes=("a", "b", "c"),
                     mean=(0.5,) * 3, std=(0.25,) * 3, dataset="cifar10", cam_layer="conv", feature_layers=("conv",),
                     head_layer="fc", note="")
    return model, Explainer(model, info)


def test_every_registered_method_describes_itself():
    names = [m.name for m in methods()]
    assert names[:4] == ["gradcam", "guided_gradcam", "integrated_gradients", "occlusion"]
    assert len(set(names)) == len(names)
    for m in methods():
        assert m.label and m.summary and "\n" not in m.summary and len(m.summary) <= 120
        assert isinstance(m.uses_layer, bool) and isinstance(m.slow, bool)
        for option in m.options:
            assert option.check(option.default) == option.default
    assert method_choices() == [(m.label + (" (slower)" if m.slow else ""), m.name) for m in methods()]


def test_a_registered_method_is_offered_validated_and_computed():
    model, exp = explainer()
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    assert THROWAWAY not in [n for _, n in method_choices()]
    with throwaway_method() as cls:
        assert ("Input energy (test)", THROWAWAY) in method_choices() and get_method(THROWAWAY) is cls
        settings = ExplainSettings(method=THROWAWAY, test_power=2)
        view = exp.attribute(x, settings)
        want = (x[0] ** 2).sum(0) / (x[0] ** 2).sum(0).max()
        np.testing.assert_allclose(view.heatmap, want.numpy(), atol=1e-6)
        assert model.calls == 1  # from_record: the cached forward, nothing more
        direct = exp.method(THROWAWAY)(x, 0, settings.method_options())
        np.testing.assert_allclose(direct, view.heatmap, atol=1e-6)
        with pytest.raises(BadInputError, match="test_power must be between 0.5 and 4"):
            ExplainSettings(method=THROWAWAY, test_power=9)
    with pytest.raises(BadInputError, match="unknown method"):
        ExplainSettings(method=THROWAWAY)
    assert hooks_left(model) == 0


def test_duplicate_names_and_clashing_options_are_refused():
    with throwaway_method():
        with pytest.raises(ValueError, match="already registered"):
            with throwaway_method():
                pass
    clash = type("Clash", (Attribution,), dict(name="test_clash", label="Clash", summary="Clashes.",
                                               options=(Option("ig_steps", 3, "Steps", low=1, high=3),)))
    with pytest.raises(ValueError, match="ig_steps"):
        register_method(clash)
    assert "test_clash" not in [m.name for m in methods()]


def test_options_are_checked_by_the_declaring_method_and_keywords_still_work():
    assert ExplainSettings(method="integrated_gradients", ig_steps=8) == \
        ExplainSettings(method="integrated_gradients", options={"ig_steps": 8}) == \
        ExplainSettings(method="integrated_gradients", options=(("ig_steps", 8),))
    settings = ExplainSettings(method="integrated_gradients", ig_steps=8)
    assert settings.option("ig_steps") == 8 and settings.option("nt_samples") == 8
    assert settings.method_options()["ig_baseline"] == "zeros"
    for bad in (dict(ig_steps=2.5), dict(ig_steps="many"), dict(noise_tunnel="yes"), dict(ig_baseline="noise"),
                dict(occlusion_window=0), dict(no_such_option=1)):
        with pytest.raises(BadInputError):
            ExplainSettings(**bad)


def test_options_of_other_methods_do_not_change_the_heatmap_key():
    plain = ExplainSettings(method="gradcam").heatmap_key()
    assert ExplainSettings(method="gradcam", ig_steps=7, noise_tunnel=True).heatmap_key() == plain
    ig = ExplainSettings(method="integrated_gradients")
    assert ig.heatmap_key() == ExplainSettings(method="integrated_gradients", ig_steps=32).heatmap_key()
    assert ig.heatmap_key() != ExplainSettings(method="integrated_gradients", ig_steps=8).heatmap_key()
