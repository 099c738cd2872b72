"""The one base class that owns hooks: it puts a model in explain state and restores it on exit."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from cnndemo.errors import BadInputError
from cnndemo.models import logits_of  # noqa: F401  (re-exported: the explain layer reads scores through it)

# the *_with_kwargs / *_always_called dicts only flag entries of these four, so these count every hook once
HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


class ModelGuard:
    """Context manager: eval mode, frozen parameters and no in-place activations inside; hooks it added removed and
    every flag restored after."""

    def __init__(self, model: nn.Module) -> None:
        """Wrap model; nothing changes until the context is entered."""
        self.model = model
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._modes: list[tuple[nn.Module, bool]] = []
        self._grads: list[tuple[torch.Tensor, bool]] = []
        self._inplace: list[nn.Module] = []

    def __enter__(self) -> ModelGuard:
        """Remember modes, parameter flags and in-place flags, then switch to eval, no parameter grads, no in-place."""
        modules = list(self.model.modules())  # one walk of the tree (every explain request enters a guard)
        self._modes = [(m, m.training) for m in modules]
        self._grads = [(p, p.requires_grad) for p in self.model.parameters()]
        # captum's and torchcam's hooks (DeepLift, guided backprop, stored activations) break on in-place ReLUs
        self._inplace = [m for m in modules if getattr(m, "inplace", None) is True]
        if any(training for _, training in self._modes):
            self.model.eval()  # a walk of every module: skipped when all are in eval mode already
        for p, _ in self._grads:
            p.requires_grad_(False)  # gradients flow to activations / inputs only, never into weights
        for m in self._inplace:
            m.inplace = False
        return self

    def __exit__(self, *exc) -> bool:
        """Remove every hook this guard added and restore modes and flags, also when the body raised."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for module, training in self._modes:
            if module.training != training:  # nn.Module's __setattr__ is slow; most flags did not change
                module.training = training
        for p, flag in self._grads:
            if p.requires_grad != flag:
                p.requires_grad_(flag)
        for m in self._inplace:
            m.inplace = True
        self._modes, self._grads, self._inplace = [], [], []
        return False

    def hook(self, module: nn.Module, fn: Callable) -> None:
        """Register a forward hook on module that __exit__ will remove."""
        self._handles.append(module.register_forward_hook(fn))


def hooks_left(model: nn.Module) -> int:
    """How many hooks of any kind are registered on the model's modules (0 after every explain call)."""
    return sum(len(getattr(m, name, {})) for m in model.modules() for name in HOOK_DICTS)


class LogitsOnly(nn.Module):
    """Wraps a model whose forward returns a tuple so captum sees a plain score tensor."""

    def __init__(self, model: nn.Module) -> None:
        """Keep model as the only child."""
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of x."""
        return logits_of(self.model(x))


def layer_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called name; a bad name raises BadInputError listing the valid ones."""
    from cnndemo.models import resolve_layer  # late: the explain package must not pull the zoo in at import

    module = _direct(model, name)
    if module is not None:
        return module
    try:
        return resolve_layer(model, name)
    except BadInputError:
        raise
    except ValueError as err:
        raise BadInputError(str(err)) from None


def _direct(model: nn.Module, name: str) -> nn.Module | None:
    """The submodule at the dotted path name by walking attributes (no listing of every module), None when the
    path does not lead to one; resolve_layer then says which names are valid."""
    if not isinstance(name, str) or not name:
        return None
    try:
        module = model.get_submodule(name)
    except AttributeError:
        return None
    return module if isinstance(module, nn.Module) else None
