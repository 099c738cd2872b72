"""Structured server logs: one JSON line per request and per training epoch, so a teacher can replay a session.

Lines go through the standard `logging` module (loggers "cnndemo.requests" and "cnndemo.training"), so the
host decides where they end up; `configure()` sets up a plain stderr handler for `python app.py`.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:  # type only: logs sits below the trainer
    from .train.messages import Epoch

OUTCOMES = ("ok", "error", "refused")
requests_log = logging.getLogger("cnndemo.requests")
training_log = logging.getLogger("cnndemo.training")


def _line(event: str, fields: dict[str, Any]) -> str:
    """One JSON object on one line; values JSON cannot hold are written as text."""
    return json.dumps({"event": event, **fields}, default=str, separators=(",", ":"))


def log_request(endpoint: str, *, model: str | None, device: str, latency_ms: float, outcome: str,
                **extra: Any) -> dict[str, Any]:
    """Log one served request and return the record (outcome: ok, error or refused)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    record = {"endpoint": endpoint, "model": model, "device": device, "latency_ms": round(latency_ms, 1),
              "outcome": outcome, **extra}
    level = logging.INFO if outcome == "ok" else logging.WARNING
    requests_log.log(level, _line("request", record))
    return record


def log_epoch(message: Epoch, *, run: str, model: str, device: str) -> dict[str, Any]:
    """Log one trainer Epoch message (accuracies, losses, elapsed time) and return the record."""
    keys = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "best_acc", "elapsed_s", "step")
    record = {"run": run, "model": model, "device": device, **{k: _rounded(getattr(message, k)) for k in keys}}
    training_log.info(_line("epoch", record))
    return record


def log_run(kind: str, *, run: str, model: str, device: str, **extra: Any) -> dict[str, Any]:
    """Log a training run's start or end (kind: 'start' or 'done')."""
    record = {"run": run, "model": model, "device": device, **extra}
    training_log.info(_line(f"run_{kind}", record))
    return record


def short(text: str, limit: int = 160) -> str:
    """A message cut to one log-friendly line (a refused request's reason)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _rounded(value: Any) -> Any:
    """Floats to 4 decimals, so lines stay short and readable."""
    return round(value, 4) if isinstance(value, float) else value


@dataclass
class RequestTimer:
    """Times one request; the caller sets outcome (and extra fields) before the block ends."""

    endpoint: str
    model: str | None
    device: str
    outcome: str = "ok"
    extra: dict[str, Any] = field(default_factory=dict)
    start: float = field(default_factory=time.perf_counter)

    def finish(self) -> dict[str, Any]:
        """Write the request's line."""
        ms = 1000 * (time.perf_counter() - self.start)
        return log_request(self.endpoint, model=self.model, device=self.device, latency_ms=ms,
                           outcome=self.outcome, **self.extra)


@contextmanager
def timed_request(endpoint: str, model: str | None, device: str) -> Iterator[RequestTimer]:
    """Log a request when the block ends; an exception that escapes counts as 'error' unless already set."""
    timer = RequestTimer(endpoint, model, device)
    try:
        yield timer
    except BaseException:
        if timer.outcome == "ok":
            timer.outcome = "error"
        raise
    finally:
        timer.finish()


def configure(level: int = logging.INFO) -> None:
    """A stderr handler for the app's own process (leaves handlers alone when the host already set some)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
