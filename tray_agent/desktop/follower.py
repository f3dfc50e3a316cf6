"""A worker thread woken after every commit (through the inbox's event bus), for the parts
of the daemon that follow the event log: the notification engine and the tray's state."""

from __future__ import annotations

import threading
from collections.abc import Callable

from tray_agent.core.events import EventBus
from tray_agent.supervisor import TaskBoard, run_thread


class BusFollower:
    """Runs ``_run`` in a daemon thread; ``_wake`` is set after each commit and by ``stop``.
    Subclasses loop ``while not self._stopping`` and wait on ``_wake`` (never busy-poll).

    The thread runs under the supervisor's board: if ``_run`` raises it is recorded and
    started again after a backoff; a subclass that survives a failed pass on its own
    reports it with ``_pass_failed`` and ``_pass_ok``, so it is visible all the same."""

    thread_name = "follower"

    def __init__(self, bus: EventBus, board: TaskBoard | None = None) -> None:
        self._bus = bus
        self._board = board
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self._bus.subscribe(lambda _seq: self._wake.set())
        self._thread = threading.Thread(target=self._supervised, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self._stopped.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _supervised(self) -> None:
        if self._board is None:
            self._run()
            return
        run_thread(self._board, self.thread_name, self._run, lambda: self._stopping, self._stopped.wait)

    def _pass_failed(self, exc: BaseException) -> None:
        if self._board is not None:
            self._board.failed(self.thread_name, exc)

    def _pass_ok(self) -> None:
        if self._board is not None:
            self._board.ok(self.thread_name)

    def _run(self) -> None:
        raise NotImplementedError
