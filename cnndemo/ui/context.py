"""What every tab shares: the zoo, the model cache, the serving limits, and the guarded-event decorator."""
from __future__ import annotations

from dataclasses import dataclass, field

from cnndemo.explain import ModelCache
from cnndemo.serving import Deadline, ServingLimits
from cnndemo.zoo import Zoo

from .errors import user_errors


@dataclass
class AppContext:
    """The shared state handed to each tab's build(context); components the tabs share go in `components`."""

    zoo: Zoo = field(default_factory=Zoo)
    cache: ModelCache | None = None
    limits: ServingLimits = field(default_factory=ServingLimits.from_env)
    components: dict = field(default_factory=dict)  # e.g. "image", "model": Explore's, read by other tabs

    def __post_init__(self) -> None:
        """One model cache over the zoo, and the per-request deadline of the serving limits."""
        self.cache = self.cache or ModelCache(self.zoo.load, max_models=3)
        self.deadline = Deadline(self.limits.time_limit_s, self.limits.max_overdue)

    def guarded(self, endpoint: str, model_arg: int | None = 1):
        """Decorator for an explain-type event: time limit, one log line, errors as sentences."""
        return user_errors(endpoint, deadline=self.deadline, model_arg=model_arg, cache=self.cache)

    @property
    def shared(self) -> dict:
        """Event kwargs that put an explain event in the one shared worker pool."""
        return {"concurrency_id": "explain", "concurrency_limit": self.limits.explain_concurrency}

    @property
    def private(self) -> dict:
        """shared, for events that are not part of the public API."""
        return {"api_visibility": "private", **self.shared}
