"""A twin of a model in which every activation is a module of a type the module-based rules see.

Guided Backprop (captum overrides the gradient of nn.ReLU modules only) and DeepLift (captum's rules match a fixed
table of module types, one module per use) silently pass the plain gradient through an activation they do not
see: a functional F.relu in forward (LeNet-5), a ReLU6 module (EfficientNet-Lite0), a module called twice (one
MaxPool2d after both convolutions of mnist_cnn). ruled_twin() traces the model with torch.fx into a twin that shares
the model's modules and weights (nothing is copied but the graph) and in which
  - functional relu / relu6 / sigmoid / tanh / max_pool2d calls are modules of the matching nn type,
  - ReLU6 modules are CappedReLU (a ReLU6 that is an nn.ReLU, so both rules see it) and MaxPool2d modules are
    RoutedMaxPool2d (the same pool with a DeepLift rule that keeps the attributions adding up),
  - a parameter-free module the forward calls more than once gets its own copy for every call after the first,
  - every module with a DeepLift rule gets a copy of its input (see _own_input).
On the twin, DeepLift's attributions add up to the change of the class score (its summation-to-delta property) on
all 40 registry models (tests/test_activations.py: random weights and offsets, float64); run on the models
themselves, captum's missed it on 25 of them, by 0.02 % up to 19,000 times the attributions' total size (every
VGG, where a ReLU feeds a max pool; GoogLeNet, whose sum was 3.5e-6 for a score change of 11.2; EfficientNet,
AlexNet, LeNet-5, mnist_inception), and on the trained mnist_cnn (10.8 for 2.45).
unruled() names the activations a twin still holds that a rule does not cover, so a method can refuse in a sentence.
The model itself is never changed: the twin is built inside the caller's ModelGuard (eval mode) and dropped after.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F
from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR, nonlinear


class CappedReLU(nn.ReLU):
    """ReLU6 (min(max(x, 0), 6)) as an nn.ReLU subclass: guided backprop's positive-gradient rule and DeepLift's
    rescale rule (delta out / delta in, valid for any elementwise function) then apply to it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """min(max(x, 0), 6)."""
        return F.relu6(x)


class RoutedMaxPool2d(nn.MaxPool2d):
    """A MaxPool2d whose DeepLift rule (routed_maxpool) adds up the shares of overlapping windows."""


def routed_maxpool(module: nn.MaxPool2d, inputs: torch.Tensor, outputs: torch.Tensor, grad_input: torch.Tensor,
                   grad_output: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """DeepLift's multipliers of a max pool, in captum's rule-table form (inputs: the input and reference halves).

    Each window's change out - out_ref goes to the positions that won it: the rise up to the larger of the two
    maxima to the input's winner, the rest to the reference's; a position's multiplier is what it received over
    its own change, so the attributions still add up to the score's change. captum's own rule hands the shares
    back with max_unpool2d, which keeps one share where a position wins several overlapping windows (a 3 x 3
    stride-1 pool): on googlenet_cifar its DeepLift map summed to 5e-7 for a score change of 1.78."""
    with torch.no_grad():
        x, ref = inputs.chunk(2)
        out, out_ref = outputs.chunk(2)
        top = torch.max(out, out_ref)
        shares = torch.cat([top - out_ref, out - top]) * grad_output
        _, winners = F.max_pool2d(inputs, module.kernel_size, module.stride, module.padding, module.dilation,
                                  module.ceil_mode, return_indices=True)
        routed = torch.zeros_like(inputs).flatten(2).scatter_add_(2, winners.flatten(2), shares.flatten(2))
        received = sum(routed.view_as(inputs).chunk(2))
        delta = x - ref
        small = delta.abs() < eps  # no change here: any multiplier keeps the sum, take the plain gradient
        ratio = received / torch.where(small, torch.ones_like(delta), delta)
    return torch.where(torch.cat([small, small]), grad_input, torch.cat([ratio, ratio]))


# captum's rule table is looked up by exact type: these two classes exist only in twins
SUPPORTED_NON_LINEAR.setdefault(CappedReLU, nonlinear)
SUPPORTED_NON_LINEAR.setdefault(RoutedMaxPool2d, routed_maxpool)

# functional calls that become modules in the twin: callable or Tensor method name -> module maker(node's args)
POOL_ARGS = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")  # F.max_pool2d's order


def _plain(cls: type[nn.Module]) -> Callable[..., nn.Module]:
    """A maker of a cls module that ignores the call's other arguments (inplace: the twin never works in place)."""
    return lambda *args, **kwargs: cls()


FUNCTIONS: dict[object, Callable[..., nn.Module]] = {
    F.relu: _plain(nn.ReLU), torch.relu: _plain(nn.ReLU), "relu": _plain(nn.ReLU), F.relu6: _plain(CappedReLU),
    torch.sigmoid: _plain(nn.Sigmoid), "sigmoid": _plain(nn.Sigmoid), torch.tanh: _plain(nn.Tanh),
    "tanh": _plain(nn.Tanh), F.max_pool2d: lambda *a, **k: RoutedMaxPool2d(**{**dict(zip(POOL_ARGS, a)), **k}),
}
SWAPS: dict[type, Callable[[nn.Module], nn.Module]] = {
    nn.ReLU6: lambda m: CappedReLU(),
    nn.MaxPool2d: lambda m: RoutedMaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, m.return_indices,
                                            m.ceil_mode)}
# functional nonlinearities the twin leaves as they are: a rule never sees them
OTHER_FUNCTIONS = {F.gelu, F.silu, F.elu, F.leaky_relu, F.softplus, F.hardswish, F.hardsigmoid, F.mish,
                   F.hardtanh, F.relu_, torch.relu_, torch.clamp, F.softmax, F.log_softmax, torch.softmax,
                   "clamp", "clamp_min", "relu_", "sigmoid_", "tanh_", "softmax"}


class Tracer(fx.Tracer):
    """torch.fx's tracer that also keeps whole a childless subclass of a torch.nn layer (SameConv2d pads from
    x.shape in forward, which a symbolic trace cannot follow)."""

    def is_leaf_module(self, m: nn.Module, qualified_name: str) -> bool:
        """A torch.nn leaf, or a module without submodules that subclasses one (SameConv2d); a custom activation
        module (x * sigmoid(x)) is traced through, so its functional calls show."""
        if super().is_leaf_module(m, qualified_name):
            return True
        torch_bases = [c for c in type(m).__mro__[1:] if c.__module__.startswith("torch.nn.modules")]
        return next(m.children(), None) is None and any(c is not nn.Module for c in torch_bases)


class UntraceableError(ValueError):
    """torch.fx could not trace the model's forward (data-dependent control flow)."""


def ruled_twin(model: nn.Module) -> fx.GraphModule:
    """The twin of model (in its current mode) described above; UntraceableError when torch.fx cannot trace it."""
    try:
        twin = fx.GraphModule(model, Tracer().trace(model), class_name=type(model).__name__ + "Twin")
    except (fx.proxy.TraceError, TypeError) as err:  # a branch on a value, or a Proxy in arithmetic (int(x.sum()))
        if isinstance(err, TypeError) and "Proxy" not in str(err):
            raise  # the forward's own error, as a plain call would raise it
        raise UntraceableError(f"{type(err).__name__}: {err}") from None
    calls: dict[str, int] = {}
    for number, node in enumerate(list(twin.graph.nodes)):
        if node.op == "call_module":
            _own_module(twin, node, calls)
        elif node.op in ("call_function", "call_method") and node.target in FUNCTIONS:
            _as_module(twin, node, f"activation_{number}")
        if node.op == "call_module" and type(twin.get_submodule(node.target)) in SUPPORTED_NON_LINEAR:
            _own_input(twin, node)
    twin.recompile()
    return twin


def _own_input(twin: fx.GraphModule, node: fx.Node) -> None:
    """Feed a ruled module a copy of its input. captum hooks a module's input tensor for its rule and its output
    tensor to read the gradient arriving there; when a pool's output is a ReLU's input (or the other way round)
    both hooks sit on one tensor, and the first reads the gradient before the second rewrites it (conv - pool -
    relu: the attributions no longer add up). On a copy, each rule reads its neighbour's result."""
    with twin.graph.inserting_before(node):
        copied = twin.graph.call_method("clone", (node.args[0],))
    node.args = (copied, *node.args[1:])


def _own_module(twin: fx.GraphModule, node: fx.Node, calls: dict[str, int]) -> None:
    """Swap a ReLU6 module for a CappedReLU, and give each later call of a parameter-free module its own copy."""
    module = twin.get_submodule(node.target)
    swap = SWAPS.get(type(module))
    calls[node.target] = calls.get(node.target, 0) + 1
    reused = calls[node.target] > 1 and next(module.parameters(), None) is None
    if swap is None and not reused:
        return
    replacement = swap(module) if swap else copy.deepcopy(module)
    if reused:
        node.target = f"{node.target}_call{calls[node.target]}"
    twin.add_submodule(node.target, replacement)  # replaces only the twin's entry: its containers are its own


def _as_module(twin: fx.GraphModule, node: fx.Node, name: str) -> None:
    """Turn one functional activation call into a call of a new module of the matching type."""
    twin.add_submodule(name, FUNCTIONS[node.target](*node.args[1:], **node.kwargs))
    node.op, node.target, node.args, node.kwargs = "call_module", name, node.args[:1], {}


def unruled(twin: fx.GraphModule, ruled: Callable[[nn.Module], bool]) -> list[str]:
    """Names of the twin's activations (modules of torch.nn.modules.activation, pooling excepted, and functional
    nonlinearities) for which ruled(module) is False: a rule would pass the plain gradient through them."""
    found = []
    for node in twin.graph.nodes:
        if node.op == "call_module":
            module = twin.get_submodule(node.target)
            if type(module).__module__ == nn.ReLU.__module__ and not ruled(module):
                found.append(f"{type(module).__name__} ({node.target})")
        elif node.op in ("call_function", "call_method") and node.target in OTHER_FUNCTIONS:
            found.append(f"{getattr(node.target, '__name__', node.target)} (in forward)")
    return found
