"""Every failure of an event becomes one sentence for the user; the log line records the outcome."""
from __future__ import annotations

import functools
import logging

import gradio as gr

from cnndemo import BadInputError, logs
from cnndemo.explain import ModelCache
from cnndemo.serving import Deadline, ServerBusy, TimeLimitExceeded, free_memory, is_out_of_memory

log = logging.getLogger("cnndemo.app")


def serving_device() -> str:
    """Where explain requests run (for the request log)."""
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def to_user_error(err: BaseException, timer: logs.RequestTimer, cache: ModelCache | None) -> gr.Error:
    """The message a user sees for err; the request's one log line records the outcome (and the trace for server
    faults). Gradio itself prints no traceback for it: a refused request is one line in the log, not a page."""
    error = _user_error(err, timer, cache)
    error.print_exception = False
    return error


def _user_error(err: BaseException, timer: logs.RequestTimer, cache: ModelCache | None) -> gr.Error:
    """to_user_error, before Gradio is told not to print it."""
    if isinstance(err, gr.Error):
        timer.outcome = "refused"
        return err
    if isinstance(err, (ValueError, ServerBusy)):  # BadInputError, bad layer / class names, a full server
        timer.outcome, timer.extra["reason"] = "refused", "busy" if isinstance(err, ServerBusy) else "bad_input"
        timer.extra["detail"] = logs.short(str(err))
        return gr.Error(str(err))
    timer.outcome = "error"
    if isinstance(err, TimeLimitExceeded):
        timer.extra["reason"] = "time_limit"
        return gr.Error(str(err))
    if is_out_of_memory(err):
        timer.extra["reason"] = "oom"
        log.warning("out of memory in %s (%s); dropping cached models", timer.endpoint, err)
        free_memory(cache)
        return gr.Error("The server ran out of memory on this request. Try a smaller model or image, "
                        "or try again in a moment.")
    timer.extra["reason"] = type(err).__name__
    log.error("request %s failed", timer.endpoint, exc_info=err)
    return gr.Error(f"Something went wrong ({type(err).__name__}): {err}")


def _model_of(args: tuple, index: int | None) -> str | None:
    """The model name(s) a request is about, for the log line."""
    if index is None or index >= len(args):
        return None
    value = args[index]
    return "+".join(map(str, value)) if isinstance(value, (list, tuple)) else value


def user_errors(endpoint: str, *, deadline: Deadline | None = None, model_arg: int | None = None,
                cache: ModelCache | None = None):
    """Run an event under its time limit, show errors as messages (traces go to the log), log one line;
    model_arg: the position of the model name among the handler's arguments (for the log line)."""
    def decorate(fn):
        @functools.wraps(fn)  # keeps the signature and type hints Gradio reads (gr.Request, gr.Progress)
        def wrapped(*args, **kwargs):
            return run_guarded(endpoint, fn, args, kwargs, deadline, model_arg, cache)
        return wrapped
    return decorate


def run_guarded(endpoint: str, fn, args: tuple, kwargs: dict, deadline: Deadline | None, model_arg: int | None,
                cache: ModelCache | None):
    """fn(*args, **kwargs) under the deadline (if any), timed and logged, every failure a gr.Error sentence."""
    with logs.timed_request(endpoint, _model_of(args, model_arg), serving_device()) as timer:
        try:
            return deadline.run(fn, *args, **kwargs) if deadline else fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - every failure becomes a sentence for the user
            raise to_user_error(err, timer, cache) from None


def errors_in_progress(endpoint: str, n_outputs: int, *, model_arg: int | None = None,
                       prefix: str = "**Not trained:** "):
    """For a generator event whose first output is a progress line: every yield passes through, and a refused or
    failed run says so there, in one message after prefix, while every other output keeps what it showed (gr.skip)
    instead of turning to "Error"."""
    def decorate(fn):
        @functools.wraps(fn)  # keeps the signature and type hints Gradio reads (gr.Request)
        def wrapped(*args, **kwargs):
            with logs.timed_request(endpoint, _model_of(args, model_arg), serving_device()) as timer:
                try:
                    yield from fn(*args, **kwargs)
                except Exception as err:  # noqa: BLE001 - every failure becomes a sentence for the user
                    message = to_user_error(err, timer, None).message
                    yield (f"{prefix}{message}", *[gr.skip()] * (n_outputs - 1))
        return wrapped
    return decorate


def need_image(image, hint: str = "Upload a photo, pick an example or draw something first."):
    """The request's image, or an empty request refused with a hint (where the image comes from)."""
    if image is None:
        raise BadInputError(hint)
    return image
