"""The per-user rate limit: small in-memory bookkeeping for one bot process."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Callable, Hashable


class RateLimiter:
    """At most ``limit`` photos per user in any sliding ``window`` seconds (``limit=0`` disables it).

    >>> limiter = RateLimiter(limit=2, window=60, clock=lambda: 0.0)
    >>> [limiter.take(7) for _ in range(3)]
    [0.0, 0.0, 60.0]
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: dict[Hashable, deque[float]] = defaultdict(deque)

    def take(self, user: Hashable, cost: int = 1) -> float:
        """Spend ``cost`` photos for ``user``: 0.0 if allowed, else the seconds until it would be."""
        if not self.limit:
            return 0.0
        now = self.clock()
        events = self._events[user]
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) + cost > self.limit:
            if cost > self.limit or not events:
                return self.window
            # The oldest photos that must expire before ``cost`` more fit.
            return max(0.0, events[len(events) + cost - self.limit - 1] + self.window - now)
        events.extend([now] * cost)
        if len(self._events) > 10_000:  # forget idle users so memory stays bounded
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        for user in [u for u, events in self._events.items() if not events or events[-1] <= now - self.window]:
            del self._events[user]
