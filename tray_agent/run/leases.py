"""Leases on background jobs, so that each runs on one replica at a time when several share a
PostgreSQL store: a row per job (holder, expiry by the database's clock), renewed by a
heartbeat; a replica that dies stops renewing and another takes the job once it expires.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Protocol

from sqlalchemy import delete, text
from sqlmodel import col

from tray_agent.core.db import Database
from tray_agent.core.team_models import JobLease

log = logging.getLogger(__name__)

#: A lease lasts this long after its last renewal; a dead holder's jobs move after at most
#: TTL + RENEW_EVERY + the job's own check (LEASE_CHECK in the runtime): under 10 s.
TTL = 6.0
RENEW_EVERY = 2.0
#: The holder stops before the database's expiry: its clock and the database's may drift a
#: little, and a renewal is only known to have started when it was sent.
MARGIN = 1.0

# One statement takes a free or expired lease, or renews our own; it returns a row only then.
# The database's clock decides expiry, so replicas' clocks need not agree.
_ACQUIRE = text(
    "INSERT INTO job_lease (name, holder, expires_at) "
    "VALUES (:name, :holder, timezone('utc', clock_timestamp()) + make_interval(secs => :ttl)) "
    "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at "
    "WHERE job_lease.holder = EXCLUDED.holder "
    "OR job_lease.expires_at < timezone('utc', clock_timestamp()) "
    "RETURNING holder")


class Leases(Protocol):
    holder: str
    #: Whether other processes may hold these jobs (then a heartbeat must renew them).
    shared: bool

    def want(self, name: str) -> None: ...

    def held(self, name: str) -> bool: ...

    def renew(self) -> list[str]: ...

    def release(self) -> None: ...


class Solo:
    """One process on its own store (the desktop on SQLite): every job is its own."""

    holder = "solo"
    shared = False

    def want(self, name: str) -> None:
        return None

    def held(self, name: str) -> bool:
        return True

    def renew(self) -> list[str]:
        return []

    def release(self) -> None:
        return None


class PgLeases:
    """This replica's leases in the shared ``job_lease`` table. ``renew`` (the heartbeat,
    blocking: run it in a thread) takes or keeps every wanted job; ``held`` is a local look."""

    shared = True

    def __init__(self, db: Database, holder: str | None = None, ttl: float = TTL) -> None:
        self.db = db
        self.holder = holder or f"replica-{uuid.uuid4().hex[:12]}"
        self.ttl = ttl
        self._wanted: list[str] = []
        self._until: dict[str, float] = {}  # job -> monotonic time our lease surely lasts until
        self._lock = threading.Lock()

    def want(self, name: str) -> None:
        if name not in self._wanted:
            self._wanted.append(name)

    def held(self, name: str) -> bool:
        with self._lock:
            return time.monotonic() < self._until.get(name, 0.0)

    def renew(self) -> list[str]:
        """Take or renew each wanted job; returns the jobs newly taken by this call."""
        started = time.monotonic()
        won: list[str] = []
        with self.db.write() as s:
            for name in self._wanted:
                if s.execute(_ACQUIRE, {"name": name, "holder": self.holder, "ttl": self.ttl}).first():
                    won.append(name)
        valid = started + self.ttl - MARGIN
        with self._lock:
            fresh = [n for n in won if self._until.get(n, 0.0) <= started]
            lost = [n for n in self._wanted if n not in won and self._until.pop(n, None) is not None]
            self._until.update({n: valid for n in won})
        for name in fresh:
            log.info("%s runs %s", self.holder, name)
        for name in lost:
            log.info("%s no longer runs %s (another replica holds it)", self.holder, name)
        return fresh

    def release(self) -> None:
        """A clean stop hands every job over at once instead of after the expiry."""
        with self._lock:
            self._until.clear()
        with self.db.write() as s:
            s.execute(delete(JobLease).where(col(JobLease.holder) == self.holder))

