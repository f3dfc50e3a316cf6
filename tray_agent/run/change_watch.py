"""Notices commits made by other processes (a `tray-agent send` from the CLI, a second
server) and publishes them on the in-process event bus, so the outbox, the window's live
stream and the tray's followers wake within a second instead of at their timers.
"""

from __future__ import annotations

import threading
from typing import Any

from tray_agent.core.db import Database
from tray_agent.core.events import EventBus

#: How often the store is looked at: one PRAGMA on SQLite (no lock, no page read), one
#: index lookup on PostgreSQL. Once a second, like the API's own tick: another process's
#: commit is seen within a second, and an idle daemon wakes twice a second, not three times.
INTERVAL = 1.0


class ChangeWatch:
    """``check()`` looks at the store on a connection kept for it; when the event log has
    grown past what this process has published, it publishes the new last sequence number.
    On SQLite ``PRAGMA data_version`` (which changes only when another connection commits)
    spares even the ``max(seq)`` read while nothing happens."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db = db
        self.bus = bus
        self._conn: Any = None
        self._version: int | None = None
        self._seen = 0  # the newest seq published in this process (by us or by a commit here)
        self._lock = threading.Lock()
        self._unsubscribe = bus.subscribe(self._note)

    def _note(self, seq: int) -> None:
        with self._lock:
            self._seen = max(self._seen, seq)

    def check(self) -> bool:
        """Look once; returns whether another process's commit was published."""
        try:
            seq = self._read()
        except Exception:
            self._drop()  # a broken connection is replaced at the next look
            raise
        if seq is None:
            return False
        with self._lock:
            if seq <= self._seen:
                return False
        self.bus.published(seq)
        return True

    def _read(self) -> int | None:
        if self._conn is None:
            self._conn = self.db.engine.raw_connection()
            self._seen = max(self._seen, self._max_seq())
        if self.db.is_sqlite:
            cur = self._conn.cursor()
            try:
                version = int(cur.execute("PRAGMA data_version").fetchone()[0])
            finally:
                cur.close()
            if version == self._version:
                return None
            self._version = version
        return self._max_seq()

    def _max_seq(self) -> int:
        cur = self._conn.cursor()
        try:
            cur.execute("SELECT max(seq) FROM event")
            row = cur.fetchone()
        finally:
            cur.close()
        if not self.db.is_sqlite:
            self._conn.rollback()  # never sit "idle in transaction" between looks
        return int(row[0] or 0)

    def _drop(self) -> None:
        conn, self._conn, self._version = self._conn, None, None
        if conn is not None:
            try:
                conn.invalidate()
            except Exception:
                pass

    def close(self) -> None:
        self._unsubscribe()
        self._drop()
