"""Wake-ups across replicas: one dedicated PostgreSQL connection per replica LISTENs on the
channel every event-writing commit NOTIFYs (``core.events.NOTIFY_CHANNEL``) and wakes this
replica's reader of the log (``tail.LogTail``). It only wakes: the events table is the
truth, and the reader also re-reads every few seconds, so a missed wake-up costs a moment,
not an event; a lost connection is re-made. It needs a direct connection (a
transaction-mode pooler drops LISTEN).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import make_url

from tray_agent.core.events import NOTIFY_CHANNEL, EventBus

log = logging.getLogger(__name__)
RETRY = 2.0


class PgWakeups:
    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._bus = EventBus()  # the same fan-out as in-process commits, fed from the connection
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()

    def subscribe(self, fn: Callable[[int], None]) -> Callable[[], None]:
        """Call ``fn(0)`` whenever another process (or this one) committed events."""
        return self._bus.subscribe(fn)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pg-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening.set()
                    self._wake()  # anything committed while we were not listening
                    while not self._stop.is_set():
                        if any(True for _ in conn.notifies(timeout=1.0)):
                            self._wake()
            except Exception as exc:  # the database restarted, the network blinked: listen again
                self.listening.clear()
                log.warning("listening for event wake-ups failed (%s); retrying in %.0f s",
                            type(exc).__name__, RETRY)
                self._stop.wait(RETRY)
        self.listening.clear()

    def _wake(self) -> None:
        self._bus.published(0)
