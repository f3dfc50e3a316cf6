"""A worker thread woken after every commit (through the inbox's event bus), for the parts
of the daemon that follow the event log: the notification engine and the tray's state."""

from __future__ import annotations

import threading
from collections.abc import Callable

from tray_agent.core.events import EventBus


class BusFollower:
    """Runs ``_run`` in a daemon thread; ``_wake`` is set after each commit and by ``stop``.
    Subclasses loop ``while not self._stopping`` and wait on ``_wake`` (never busy-poll)."""

    thread_name = "follower"

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self._bus.subscribe(lambda _seq: self._wake.set())
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError
