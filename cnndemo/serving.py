"""Serving a model to many users from one process: limits, per-request deadlines, memory, cancel flags.

Gradio-free: app.py wires these to its events.
"""
from __future__ import annotations

import contextvars
import gc
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServingLimits:
    """How much one server takes on at once, and for how long (defaults from CNNDEMO_* environment variables)."""

    queue_size: int = 64  # requests waiting beyond this are refused with Gradio's "queue is full" message
    explain_concurrency: int = 2  # explain events (predict, feature maps, attributions, compare) run at once
    time_limit_s: float = 60.0  # one explain request; the user gets a message when it is exceeded
    train_limit_s: float = 1800.0  # the longest training run (its time budget is capped at this)
    max_overdue: int = 2  # requests past their limit still finishing; beyond this new ones are refused
    # Gradio's cache (uploads and every file handed to a browser): Gradio deletes what this app put there once it is
    # older than cache_max_age_s, looking every cache_check_s; a page open longer than that re-uploads its picture
    cache_max_age_s: float = 4 * 3600.0
    cache_check_s: float = 600.0
    # the app's own output files (cnndemo.outputs), which Gradio copies into its cache: the oldest go first beyond
    # either bound
    outputs_max_age_s: float = 3600.0
    outputs_max_mb: float = 200.0

    @classmethod
    def from_env(cls) -> "ServingLimits":
        """Defaults overridden by CNNDEMO_QUEUE_SIZE, CNNDEMO_EXPLAIN_CONCURRENCY, CNNDEMO_TIME_LIMIT_S, ..."""
        env = os.environ.get
        return cls(queue_size=int(env("CNNDEMO_QUEUE_SIZE", cls.queue_size)),
                   explain_concurrency=int(env("CNNDEMO_EXPLAIN_CONCURRENCY", cls.explain_concurrency)),
                   time_limit_s=float(env("CNNDEMO_TIME_LIMIT_S", cls.time_limit_s)),
                   train_limit_s=float(env("CNNDEMO_TRAIN_LIMIT_S", cls.train_limit_s)),
                   cache_max_age_s=float(env("CNNDEMO_CACHE_MAX_AGE_S", cls.cache_max_age_s)),
                   cache_check_s=float(env("CNNDEMO_CACHE_CHECK_S", cls.cache_check_s)),
                   outputs_max_age_s=float(env("CNNDEMO_OUTPUTS_MAX_AGE_S", cls.outputs_max_age_s)),
                   outputs_max_mb=float(env("CNNDEMO_OUTPUTS_MAX_MB", cls.outputs_max_mb)))

    def delete_cache(self) -> tuple[int, int]:
        """Gradio's (frequency, age) in whole seconds, as gr.Blocks(delete_cache=...) takes them."""
        return max(1, round(self.cache_check_s)), max(1, round(self.cache_max_age_s))


class TimeLimitExceeded(RuntimeError):
    """A request ran past its time limit."""


class ServerBusy(RuntimeError):
    """Too many requests are still finishing past their time limit."""


class Deadline:
    """Runs calls on a small pool of reused worker threads and stops waiting after limit_s (a late call finishes
    on its own, since Python cannot kill a thread; while max_overdue such calls run, new ones are refused)."""

    def __init__(self, limit_s: float | None, max_overdue: int = 2, workers: int = 8) -> None:
        self.limit_s, self.max_overdue = limit_s, max_overdue
        self.overdue = self.running = 0
        self._lock = threading.Lock()
        # reused threads keep malloc arenas few and warm: a fresh thread per request made RSS creep under load
        self._pool = ThreadPoolExecutor(workers + max_overdue, thread_name_prefix="cnndemo-request")

    def run(self, fn, *args, **kwargs):
        """fn(*args, **kwargs), or TimeLimitExceeded / ServerBusy."""
        if not self.limit_s:
            return fn(*args, **kwargs)
        with self._lock:
            if self.overdue >= self.max_overdue:
                raise ServerBusy("The server is busy finishing slow requests; try again in a few seconds.")
            self.running += 1
        future = self._pool.submit(contextvars.copy_context().run, fn, *args, **kwargs)
        try:
            return future.result(timeout=self.limit_s)
        except FutureTimeout:
            with self._lock:
                self.overdue += 1
            future.add_done_callback(self._late_done)
            raise TimeLimitExceeded(f"This request took longer than the {self.limit_s:.0f} s limit and was "
                                    "stopped. Try a smaller image, a lighter method or another model.") from None
        finally:
            self._finished()

    def _late_done(self, _future) -> None:
        """A late call ended: its slot is free again."""
        with self._lock:
            self.overdue -= 1

    def _finished(self) -> None:
        """When the server goes idle, hand freed heap back to the OS (glibc keeps it otherwise)."""
        with self._lock:
            self.running -= 1
            idle = self.running == 0 and self.overdue == 0
        if idle:
            trim_heap()


def trim_heap() -> None:
    """glibc's malloc_trim(0) where it exists: resident memory falls back after a burst of requests."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def is_out_of_memory(err: BaseException) -> bool:
    """A CUDA or CPU out-of-memory error (torch raises either the typed error or a RuntimeError saying so)."""
    import torch
    return isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


def free_memory(cache) -> None:
    """After an out-of-memory error: drop cached models (anything with clear()) and give memory back."""
    import torch
    if cache is not None:
        cache.clear()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class FileFlag:
    """A cancel flag that lives in a file, so it also reaches a training run in another process (ZeroGPU)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def is_set(self) -> bool:
        return self.path.exists()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
