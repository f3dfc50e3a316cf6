"""A sliding-window limit on failed sign-in attempts, per key (a source address, a code):
an office signing in fifty desktops from behind one address is not slowed down.

It lives in one replica's memory; the per-code cap that holds across replicas is the
code's own ``failed_attempts`` in the database (see ``accounts``).
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

from tray_agent.core.clock import Clock
from tray_agent.core.errors import TrayAgentError


class TooManyAttempts(TrayAgentError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self, clock: Clock, limit: int, window: timedelta) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, what: str) -> None:
        """Refuse, with the seconds to wait, once ``key`` has used up its attempts."""
        now = self.clock.now()
        with self._lock:
            hits = self._recent(key, now)
            if len(hits) >= self.limit:
                wait = max(1, int((hits[0] + self.window - now).total_seconds() + 0.999))
                raise TooManyAttempts(f"Too many failed sign-in attempts {what}; try again in {wait} s.", wait)

    def hit(self, key: str) -> None:
        """Count one failed attempt for ``key``."""
        now = self.clock.now()
        with self._lock:
            self._recent(key, now).append(now)
            if len(self._hits) > 10_000:  # an address scan must not grow this without bound
                for k in [k for k, v in self._hits.items() if not v or now - v[-1] >= self.window]:
                    del self._hits[k]

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self.window:
            hits.popleft()
        return hits
