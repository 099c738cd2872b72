"""The ruled twin (cnndemo/explain/methods/activations.py) on every registry model, random weights (the properties
hold for any weights, so no model needs its trained ones; see randomised()): the twin computes what the model
computes; Guided Backprop equals an independent reference (every relu / relu6 call made guided through a
TorchFunctionMode: no hooks, no twin) and differs from the plain gradient; DeepLift's attributions add up to the
change of the class score from the baseline (its summation-to-delta property), in float64; the model is left as
it was found. A model with an activation no rule covers, or a forward torch.fx cannot trace, is refused in a
sentence."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from cnndemo.errors import BadInputError
from cnndemo.explain import Explainer, ModelGuard, hooks_left, methods
from cnndemo.explain.guard import logits_of
from cnndemo.explain.methods import get_method
from cnndemo.explain.methods.activations import ruled_twin, unruled
from cnndemo.models import ModelInfo, get_model, list_models, model_info

pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning",
                                        "ignore:.*backward hook.*:UserWarning")

SMALL_SIDE = 64  # the ImageNet forms at 64 x 64 (their adaptive pooling takes it): the properties do not need 224
RULED = ("guided_backprop", "deeplift", "guided_gradcam")


class GuidedClamp(torch.autograd.Function):
    """clamp(x, 0, high) whose backward lets only positive gradients through, where 0 < x < high."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, high: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.high = high
        return x.clamp(0, high)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * ((x > 0) & (x < ctx.high)), None


class GuidedEverywhere(TorchFunctionMode):
    """Every relu, relu6 and hardtanh(0, t) call (module or functional) made guided: the reference."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (F.relu, torch.relu, torch.Tensor.relu):
            return GuidedClamp.apply(args[0], math.inf)
        if func is F.relu6:
            return GuidedClamp.apply(args[0], 6.0)
        if func is F.hardtanh and (args[1:2] or [kwargs.get("min_val", -1.0)])[0] == 0:
            return GuidedClamp.apply(args[0], (args[2:3] or [kwargs.get("max_val", 1.0)])[0])
        return func(*args, **kwargs)


def state(model: nn.Module) -> tuple:
    """What an explain call must hand back unchanged."""
    return ([m.training for m in model.modules()], [type(m) for m in model.modules()],
            [p.requires_grad for p in model.parameters()], hooks_left(model))


def raw(model: nn.Module, info: ModelInfo, name: str, x: torch.Tensor, target: int) -> torch.Tensor:
    """The method's raw attribution of x (before folding into a heatmap), through the registry class."""
    method = Explainer(model, info).method(name)
    with method:
        return method.attribute(x.detach().clone().requires_grad_(), target, method.resolve({}))


def small_input(info: ModelInfo) -> torch.Tensor:
    """A seeded float64 input at the model's size (ImageNet forms at SMALL_SIDE)."""
    c, h, w = info.input_size
    side = (SMALL_SIDE, SMALL_SIDE) if h > SMALL_SIDE else (h, w)
    return torch.randn(1, c, *side, generator=torch.Generator().manual_seed(5), dtype=torch.float64)


HEAVY = [n for n in list_models() if model_info(n).input_size[1] > SMALL_SIDE or "densenet" in n]


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in HEAVY else [])
                                  for n in list_models()])
def test_rules_see_every_activation_of_every_registry_model(name):
    torch.manual_seed(0)
    model, info = randomised(get_model(name).double()).train(), model_info(name)  # the guard restores train mode
    x, before = small_input(info), state(model)
    with ModelGuard(model), torch.no_grad():
        twin = ruled_twin(model)
        scores, base_scores = logits_of(model(x)), logits_of(model(torch.zeros_like(x)))
        assert torch.allclose(twin(x), scores, rtol=1e-9, atol=1e-9)
    assert unruled(twin, get_method("guided_backprop").ruled) == [] == unruled(twin, get_method("deeplift").ruled)
    target = int(scores.argmax())
    reference = guided_reference(model, x, target)
    guided = raw(model, info, "guided_backprop", x, target)
    size = float(reference.abs().max())  # random deep nets give gradients of 1e-15: compare relative to it
    assert size > 0 and torch.allclose(guided, reference, rtol=1e-6, atol=1e-9 * size)
    assert (guided - plain_gradient(model, x, target)).abs().max() > 1e-3 * size  # the rule acted somewhere
    lift = raw(model, info, "deeplift", x, target).detach()  # default baseline "zeros"
    change = float(scores[0, target] - base_scores[0, target])
    # off by at most rounding: relative to the attributions' own size (random ImageNet nets score 1e-12)
    assert abs(float(lift.sum()) - change) <= 1e-7 * float(lift.abs().sum())
    assert state(model) == before and before[0][0] is True


def randomised(model: nn.Module) -> nn.Module:
    """model with He-initialised weights and small random biases and batch-norm statistics. He's scale keeps the
    activations near 1 (GoogLeNet's own init, std 0.01, shrinks its scores to 1e-13, below the 1e-10 under which
    DeepLift's rules fall back to the gradient); fresh layers start at zero offsets, and a ReLU net without
    offsets is positively homogeneous, where even the plain gradient times the input adds up to the score change
    (Euler), so DeepLift's sum would not show whether its rules fired."""
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator, dtype=module.weight.dtype)
                                    * math.sqrt(2 / fan_in))
            for name in ("bias", "running_mean"):
                offset = getattr(module, name, None)
                if isinstance(offset, torch.Tensor):
                    offset.copy_(0.1 * torch.randn(offset.shape, generator=generator, dtype=offset.dtype))
    return model


def guided_reference(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """d score / d x with every relu made guided by GuidedEverywhere (no hooks, no twin)."""
    x = x.detach().clone().requires_grad_()
    with ModelGuard(model), GuidedEverywhere():
        score = logits_of(model(x))[0, target]
    return torch.autograd.grad(score, x)[0]


def plain_gradient(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """d score / d x, signed, as autograd gives it."""
    x = x.detach().clone().requires_grad_()
    with ModelGuard(model):
        return torch.autograd.grad(logits_of(model(x))[0, target], x)[0]


class GeluNet(nn.Module):
    """A conv net with a GELU, which no rule of guided backprop or DeepLift covers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.act, self.fc = nn.Conv2d(3, 4, 3), nn.GELU(), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.conv(x)).mean(dim=(2, 3)))


class Branchy(nn.Module):
    """A forward whose path depends on the input's values: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.relu, self.fc = nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        h = self.relu(h) if h.sum() > 0 else -h
        return self.fc(h.mean(dim=(2, 3)))


@pytest.mark.parametrize("net,why", [(GeluNet, "no rule for GELU"), (Branchy, "cannot trace")])
def test_a_model_the_rules_cannot_see_is_refused_in_a_sentence(net, why):
    torch.manual_seed(0)
    model = net().train()
    info = ModelInfo(name="net", family="test", builder=net, input_size=(3, 8, 8), classes=("a", "b", "c"),
                     mean=(0.5,) * 3, std=(0.25,) * 3, dataset="cifar10", cam_layer="conv",
                     feature_layers=("conv",), head_layer="fc", note="")
    before, x = state(model), torch.randn(1, 3, 8, 8)
    for name in RULED:
        assert why in get_method(name).unavailable(model)
        with pytest.raises(BadInputError, match=why):
            Explainer(model, info).method(name)(x, 0)
    assert all(m.unavailable(model) is None for m in methods() if m.name not in RULED)
    assert state(model) == before


def test_the_twin_shares_the_weights_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = get_model("mnist_cnn")
    with ModelGuard(model):
        twin = ruled_twin(model)
    shared = {id(p) for p in model.parameters()}
    assert {id(p) for p in twin.parameters()} == shared
    assert type(model.mp) is nn.MaxPool2d and hooks_left(model) == 0
    # the one pooling module called twice is two modules in the twin, each with its own DeepLift rule
    pools = [n.target for n in twin.graph.nodes if n.op == "call_module" and "mp" in str(n.target)]
    assert len(pools) == len(set(pools)) == 2
