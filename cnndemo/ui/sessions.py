"""What each browser session keeps on the server: its class-builder set, its feature cache and its own runs.

The Explore model picker is shared by every user (one zoo), but the Train tab's run list and mistakes view show a
session its own runs only. Everything is bounded: a few sessions (least recently used go first), a few runs each.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from cnndemo.data import ClassSet, ClassSetLimits, TensorData
from cnndemo.errors import BadInputError
from cnndemo.train import FeatureCache

DEFAULT_CLASSES = ("class 1", "class 2")


@dataclass(frozen=True)
class RunRecord:
    """A finished run: its model name in the zoo, its checkpoint and the test pictures it was measured on."""

    model: str  # the zoo name ("run: <label>"), picked in Explore
    checkpoint: str
    test: TensorData
    label: str  # what the run list shows


@dataclass
class Session:
    """One browser session's class set, the frozen features of its pictures, and its runs (newest first)."""

    class_set: ClassSet
    features: FeatureCache
    runs: list[RunRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sessions:
    """Sessions by Gradio session hash, at most max_sessions of them, each keeping its last max_runs runs."""

    # a classroom of 40 at once; a full set is about 43 MB (500 pictures of 77 KB and their features), a typical
    # one (60 pictures) 5 MB, and a built-in run keeps its test split (MNIST's: 8 MB)
    def __init__(self, limits: ClassSetLimits = ClassSetLimits(), max_sessions: int = 40, max_runs: int = 4) -> None:
        self.limits, self.max_sessions, self.max_runs = limits, max_sessions, max_runs
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None) -> Session:
        """The session of this key (a new one the first time), marked as used just now."""
        key = key or "no session"
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                # a session's features: at most twice its pictures (old and new versions of a model)
                session = Session(ClassSet(DEFAULT_CLASSES, self.limits),
                                  FeatureCache(max_entries=2 * self.limits.max_total))
                self._sessions[key] = session
            self._sessions.move_to_end(key)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
            return session

    def add_run(self, key: str | None, record: RunRecord) -> None:
        """Remember a finished run for its session (the oldest beyond max_runs is forgotten)."""
        session = self.get(key)
        with session.lock:
            session.runs.insert(0, record)
            del session.runs[self.max_runs:]

    def run(self, model: str, key: str | None, use: str = "the mistakes view works on") -> RunRecord:
        """The run of that model name among this session's runs (another student's test pictures stay theirs);
        BadInputError when the session has no such run, its sentence saying what needed one (use)."""
        session = self.get(key)
        with session.lock:
            found = next((r for r in session.runs if r.model == model), None)
        if found is None:
            raise BadInputError(f"{model!r} is not one of this session's runs; {use} runs trained in this browser "
                                "session (or by this API client): train one first")
        return found
