"""A sliding-window limit on failed sign-in attempts, per key (a source address, a code):
an office signing in fifty desktops from behind one address is not slowed down. Attempts
are rows in the shared database (``sign_in_attempt``), so the limit holds across replicas.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlmodel import col

from tray_agent.core.clock import Clock
from tray_agent.core.db import Database
from tray_agent.core.errors import TrayAgentError
from tray_agent.core.team_models import SignInAttempt

#: How often one limiter deletes the attempts its window no longer counts (every key's).
PRUNE_EVERY = timedelta(minutes=1)


class TooManyAttempts(TrayAgentError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class RateLimiter:
    """``limit`` failures per ``window`` for each key of ``scope`` (the scope keeps two
    limiters' keys, and their windows' pruning, apart in the one table)."""

    def __init__(self, db: Database, clock: Clock, scope: str, limit: int, window: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.scope = scope
        self.limit = limit
        self.window = window
        self._pruned_at: datetime | None = None
        self._lock = threading.Lock()

    def _key(self, key: str) -> str:
        return f"{self.scope}:{key}"

    def check(self, key: str, what: str) -> None:
        """Refuse, with the seconds to wait, once ``key`` has used up its attempts."""
        now = self.clock.now()
        with self.db.read() as s:
            count, oldest = s.execute(select(func.count(), func.min(col(SignInAttempt.at))).where(
                col(SignInAttempt.key) == self._key(key), col(SignInAttempt.at) > now - self.window)).one()
        if count >= self.limit and oldest is not None:
            wait = max(1, int((oldest + self.window - now).total_seconds() + 0.999))
            raise TooManyAttempts(f"Too many failed sign-in attempts {what}; try again in {wait} s.", wait)

    def hit(self, key: str) -> None:
        """Count one failed attempt for ``key`` (seen by every replica from its commit on)."""
        now = self.clock.now()
        with self.db.write() as s:
            # This key's attempts the window no longer counts go at once: a key stays small.
            s.execute(delete(SignInAttempt).where(col(SignInAttempt.key) == self._key(key),
                                                  col(SignInAttempt.at) <= now - self.window))
            s.add(SignInAttempt(key=self._key(key), at=now))
        self._prune(now)

    def _prune(self, now: datetime) -> None:
        """Every key's expired attempts, now and then: an address scan must not grow the table."""
        with self._lock:
            if self._pruned_at is not None and abs(now - self._pruned_at) < PRUNE_EVERY:
                return
            self._pruned_at = now
        with self.db.write() as s:
            s.execute(delete(SignInAttempt).where(col(SignInAttempt.key).startswith(f"{self.scope}:"),
                                                  col(SignInAttempt.at) <= now - self.window))

    def forget(self) -> None:
        """Every attempt of this scope (an administrator's reset; tests)."""
        with self.db.write() as s:
            s.execute(delete(SignInAttempt).where(col(SignInAttempt.key).startswith(f"{self.scope}:")))
