"""A sliding-window rate limit per key (a Telegram user, an HTTP client): small in-memory bookkeeping.

>>> limiter = RateLimiter(limit=2, window=60, clock=lambda: 0.0)
>>> [limiter.take(7) for _ in range(3)]
[0.0, 0.0, 60.0]

The limits themselves are settings (``BOT_RATE_LIMIT``, ``REST_RATE_LIMIT``, parsed by ``cleanmessy.settings.rate``).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import Callable, Hashable


class RateLimiter:
    """At most ``limit`` events per key in any sliding ``window`` seconds (``limit=0`` disables it). Thread-safe."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: dict[Hashable, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def take(self, key: Hashable, cost: int = 1) -> float:
        """Spend ``cost`` events for ``key``: 0.0 if allowed, else the seconds until it would be."""
        if not self.limit:
            return 0.0
        with self._lock:
            now = self.clock()
            events = self._events[key]
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) + cost > self.limit:
                if cost > self.limit or not events:
                    return self.window
                # The oldest events that must expire before ``cost`` more fit.
                return max(0.0, events[len(events) + cost - self.limit - 1] + self.window - now)
            events.extend([now] * cost)
            if len(self._events) > 10_000:  # forget idle keys so memory stays bounded
                self._forget_idle(now)
            return 0.0

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, events in self._events.items() if not events or events[-1] <= now - self.window]:
            del self._events[key]
