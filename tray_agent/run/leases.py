"""Leases on background jobs, so that each runs on one replica at a time when several share a
PostgreSQL store: a row per job (holder, expiry by the database's clock, a generation bumped
at each take-over), renewed by a heartbeat; a replica that dies stops renewing and another
takes the job once it expires. The generation fences a stale holder's writes (``Fence``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session

from tray_agent.core.db import Database
from tray_agent.core.errors import TrayAgentError

log = logging.getLogger(__name__)

#: A lease lasts this long after its last renewal; a dead holder's jobs move after at most
#: TTL + RENEW_EVERY + the job's own check (LEASE_CHECK in the runtime): under 10 s.
TTL = 6.0
RENEW_EVERY = 2.0
#: The holder stops before the database's expiry: its clock and the database's may drift a
#: little, and a renewal is only known to have started when it was sent.
MARGIN = 1.0
POLL_PREFIX = "poll-"

# One statement takes a free or expired lease, or renews our own; it returns a row only then.
# The database's clock decides expiry, so replicas' clocks need not agree. Anything but the
# renewal of our own live lease is a take-over and bumps the generation (never reset: a
# clean stop expires the row instead of deleting it).
_ACQUIRE = text(
    "INSERT INTO job_lease (name, holder, expires_at, generation) "
    "VALUES (:name, :holder, timezone('utc', clock_timestamp()) + make_interval(secs => :ttl), 1) "
    "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at, "
    "generation = CASE WHEN job_lease.holder = EXCLUDED.holder "
    "AND job_lease.expires_at >= timezone('utc', clock_timestamp()) "
    "THEN job_lease.generation ELSE job_lease.generation + 1 END "
    "WHERE job_lease.holder = EXCLUDED.holder "
    "OR job_lease.expires_at < timezone('utc', clock_timestamp()) "
    "RETURNING generation")

# A poller's lease whose channel was removed (or disabled) is nobody's job any more.
_FORGET_POLLS = text(
    "DELETE FROM job_lease WHERE name LIKE 'poll-%' AND NOT EXISTS ("
    "SELECT 1 FROM channel WHERE channel.enabled AND 'poll-' || channel.id = job_lease.name) "
    "RETURNING name")

# FOR SHARE: a take-over (an UPDATE of this row) waits for the write that checked it, so the
# new holder reads what the old one committed, or the old one's write is refused.
_CHECK = text(
    "SELECT 1 FROM job_lease WHERE name = :name AND holder = :holder AND generation = :generation "
    "AND (:any_expiry OR expires_at > timezone('utc', clock_timestamp())) FOR SHARE")

_RELEASE = text(
    "UPDATE job_lease SET expires_at = timezone('utc', clock_timestamp()) - interval '1 second' "
    "WHERE holder = :holder")


def poll_job(channel_id: int) -> str:
    """The lease name of a channel's poller."""
    return f"{POLL_PREFIX}{channel_id}"


class LeaseLost(TrayAgentError):
    """A write refused because the job's lease moved to another replica (or lapsed)."""

    code = "lease_lost"


@dataclass(frozen=True)
class Fence:
    """The fencing token of one job as this replica held it: its writes check it in their
    own transaction (``check``), so a holder that stalled past its lease cannot finish a
    write the new holder has taken over."""

    name: str
    holder: str
    generation: int

    def check(self, s: Session, *, live: bool = True) -> None:
        """Raise LeaseLost unless this lease is still ours at this generation; ``live``
        also needs it unexpired (to start new work: a claim); a write that records what
        already happened (the provider's answer) only needs no take-over since."""
        ok = s.execute(_CHECK, {"name": self.name, "holder": self.holder, "generation": self.generation,
                                "any_expiry": not live}).first()
        if ok is None:
            raise LeaseLost(f"{self.holder} no longer holds {self.name} (generation {self.generation}); "
                            "its write was refused.")


class Leases(Protocol):
    holder: str
    #: Whether other processes may hold these jobs (then a heartbeat must renew them).
    shared: bool

    def want(self, name: str) -> None: ...

    def held(self, name: str) -> bool: ...

    def fence(self, name: str) -> Fence | None: ...

    def step_down(self, name: str) -> None: ...

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

    def fence(self, name: str) -> Fence | None:
        return None

    def step_down(self, name: str) -> None:
        return None

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
        # The pid tells an operator (and a test) which process runs what.
        self.holder = holder or f"replica-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.ttl = ttl
        self._wanted: list[str] = []
        self._until: dict[str, float] = {}  # job -> monotonic time our lease surely lasts until
        self._generation: dict[str, int] = {}
        self._lock = threading.Lock()

    def want(self, name: str) -> None:
        if name not in self._wanted:
            self._wanted.append(name)

    def held(self, name: str) -> bool:
        with self._lock:
            return time.monotonic() < self._until.get(name, 0.0)

    def fence(self, name: str) -> Fence | None:
        """The token for a write under ``name``'s lease (the generation it was taken at)."""
        with self._lock:
            generation = self._generation.get(name, 0)
        return Fence(name, self.holder, generation)

    def step_down(self, name: str) -> None:
        """A write found the lease gone: stop doing this job until the heartbeat takes it again."""
        with self._lock:
            self._until.pop(name, None)
            self._generation.pop(name, None)
        log.warning("%s steps down from %s (its lease moved to another replica)", self.holder, name)

    def renew(self) -> list[str]:
        """Take or renew each wanted job; returns the jobs newly taken by this call (or
        taken again at a new generation after this replica's lease lapsed)."""
        started = time.monotonic()
        won: dict[str, int] = {}
        with self.db.write() as s:
            for name in self._wanted:
                row = s.execute(_ACQUIRE, {"name": name, "holder": self.holder, "ttl": self.ttl}).first()
                if row is not None:
                    won[name] = int(row[0])
            gone = set(s.execute(_FORGET_POLLS).scalars())
        for name in gone:
            won.pop(name, None)
        valid = started + self.ttl - MARGIN
        with self._lock:
            self._wanted = [n for n in self._wanted if n not in gone]
            fresh = [n for n, g in won.items() if self._generation.get(n) != g]
            lost = [n for n in self._wanted if n not in won and self._until.pop(n, None) is not None]
            for n in lost:
                self._generation.pop(n, None)
            self._until.update({n: valid for n in won})
            self._generation.update(won)
            for n in gone:
                self._until.pop(n, None)
                self._generation.pop(n, None)
        for name in fresh:
            log.info("%s runs %s (generation %s)", self.holder, name, won[name])
        for name in lost:
            log.info("%s no longer runs %s (another replica holds it)", self.holder, name)
        for name in sorted(gone):
            log.info("%s: the job %s is gone (its channel was removed or disabled)", self.holder, name)
        return fresh

    def release(self) -> None:
        """A clean stop hands every job over at once instead of after the expiry. The rows
        stay (expired), so the next holder's generation is still greater than ours."""
        with self._lock:
            self._until.clear()
            self._generation.clear()
        with self.db.write() as s:
            s.execute(_RELEASE, {"holder": self.holder})
