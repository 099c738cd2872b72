"""What every tab shares: the zoo, the model cache, the serving limits, Explore's inputs, the Train tab's sessions,
the guarded-event decorator, bind() that wires a module-level handler to an event, and the handler of the pickers
that follow Explore's model."""
from __future__ import annotations

import functools
import types
from dataclasses import dataclass, field
from typing import Callable

import gradio as gr

from cnndemo.explain import ModelCache
from cnndemo.serving import Deadline, FileFlag, ServingLimits
from cnndemo.zoo import Zoo

from .common import SharedInputs, session_of, shared_inputs
from .components import model_choices
from .errors import run_guarded
from .language import speaks
from .sessions import Sessions


@dataclass(eq=False)
class AppContext:
    """The shared state handed to each tab's build(context) and, first, to each of its handlers."""

    zoo: Zoo = field(default_factory=Zoo)
    cache: ModelCache | None = None
    limits: ServingLimits = field(default_factory=ServingLimits.from_env)
    sessions: Sessions = field(default_factory=Sessions)  # each browser session's class set and runs (Train tab)
    stops: dict[str, FileFlag] = field(default_factory=dict)  # each browser session's cancel flag of its run
    inputs: SharedInputs = field(init=False)  # Explore's image and model: Explore places them, other tabs follow

    def __post_init__(self) -> None:
        """One model cache over the zoo, the per-request deadline of the serving limits, the shared inputs."""
        self.cache = self.cache or ModelCache(self.zoo.load, max_models=3)
        self.deadline = Deadline(self.limits.time_limit_s, self.limits.max_overdue)
        self.inputs = shared_inputs(self.zoo)

    def bind(self, handler: Callable) -> Callable:
        """handler(ctx, ...) as an event's function: this context bound first, the name, signature (from its
        second parameter on) and type hints kept, run in its request's language (language.speaks). A bound
        method, not a functools.partial: Gradio reads a partial's type hints as none, so a gr.Request parameter
        would go unfilled."""
        return speaks(types.MethodType(handler, self))

    @property
    def shared(self) -> dict:
        """Event kwargs that put an explain event in the one shared worker pool."""
        return {"concurrency_id": "explain", "concurrency_limit": self.limits.explain_concurrency}

    @property
    def private(self) -> dict:
        """shared, for events that are not part of the public API."""
        return {"api_visibility": "private", **self.shared}


def guarded(endpoint: str, *, model_arg: int | None = 2, timed: bool = True):
    """Decorator for a handler whose first argument is the AppContext: the context's time limit (unless
    timed=False), one log line, errors as sentences; model_arg: the model name's position among the arguments."""
    def decorate(fn):
        @functools.wraps(fn)  # keeps the signature and type hints Gradio reads (gr.Request, gr.Progress)
        def wrapped(ctx: AppContext, *args, **kwargs):
            deadline = ctx.deadline if timed else None
            return run_guarded(endpoint, fn, (ctx, *args), kwargs, deadline, model_arg, ctx.cache)
        return wrapped
    return decorate


def follow_model(ctx: AppContext, name: str, request: gr.Request = None) -> dict:
    """A picker that follows Explore's: on its model, with this session's current choices (a run the session
    trained meanwhile joins; another session's runs never do). Here, where AppContext is imported for real:
    gradio finds the gr.Request parameter only when every type hint resolves."""
    return gr.update(choices=model_choices(ctx.zoo, session_of(request)), value=name)
