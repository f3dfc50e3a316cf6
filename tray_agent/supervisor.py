"""Every background task runs under one supervisor: a pass that raises is logged, recorded
(task, error, time, consecutive failures; shown by the API, `doctor` and the window) and run
again after a backoff. Asyncio tasks and worker threads share the same board.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tray_agent.core.clock import Clock
from tray_agent.core.errors import TrayAgentError
from tray_agent.waits import wait_event

log = logging.getLogger(__name__)

RESTART_BASE = 1.0
RESTART_MAX = 300.0
#: How long ``Supervisor.stop`` waits for its tasks to end.
STOP_GRACE = 10.0
#: One pass of a task: does its work once and returns the seconds until the next pass, or
#: None when the task is finished.
Step = Callable[[], Awaitable["float | None"]]


@dataclass(frozen=True)
class TaskState:
    name: str
    consecutive_failures: int = 0
    failures: int = 0
    last_error: str = ""
    failed_at: datetime | None = None
    ok_at: datetime | None = None
    #: When the supervisor runs it again after the last failure.
    retry_at: datetime | None = None

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0


class TaskBoard:
    """What each background task last did. ``record`` (optional) keeps a change somewhere
    other processes can read it (the store, for ``doctor``); it is called only when a task
    fails or recovers, so a healthy idle agent writes nothing."""

    def __init__(self, clock: Clock, record: Callable[[TaskState], None] | None = None,
                 restart_base: float = RESTART_BASE) -> None:
        self.clock = clock
        self.record = record
        self.restart_base = restart_base
        self._states: dict[str, TaskState] = {}
        self._lock = threading.Lock()

    def states(self) -> list[TaskState]:
        with self._lock:
            return sorted(self._states.values(), key=lambda t: t.name)

    def get(self, name: str) -> TaskState | None:
        with self._lock:
            return self._states.get(name)

    def ok(self, name: str) -> None:
        with self._lock:
            before = self._states.get(name)
            if before is not None and not before.failing:
                return  # the common case: nothing changed, nothing to write
            state = replace(before or TaskState(name), consecutive_failures=0, ok_at=self.clock.now(),
                            retry_at=None)
            self._states[name] = state
        if before is not None:
            self._persist(state)

    def failed(self, name: str, exc: BaseException, max_delay: float = RESTART_MAX) -> float:
        """Record a failed pass; returns the backoff before the task should try again."""
        # A user-facing error (provider down, store locked) says enough in one line; a bug needs its traceback.
        log.error("background task %s failed: %s", name, _one_line(exc),
                  exc_info=None if isinstance(exc, TrayAgentError) else exc)
        now = self.clock.now()
        with self._lock:
            before = self._states.get(name) or TaskState(name)
            n = before.consecutive_failures + 1
            delay = min(max_delay, self.backoff(n))
            state = replace(before, consecutive_failures=n, failures=before.failures + 1,
                            last_error=_one_line(exc), failed_at=now, retry_at=now + timedelta(seconds=delay))
            self._states[name] = state
        self._persist(state)
        return delay

    def backoff(self, consecutive: int) -> float:
        base = min(RESTART_MAX, self.restart_base * 2 ** max(0, consecutive - 1))
        return base * (0.8 + 0.4 * random.random())

    def _persist(self, state: TaskState) -> None:
        if self.record is None:
            return
        try:
            self.record(state)
        except Exception as exc:  # the store may be what is failing: memory and the log still have it
            log.warning("could not store the state of task %s: %s", state.name, _one_line(exc))


class Supervisor:
    """Runs asyncio tasks as repeated passes (``Step``); a failed pass never ends a task."""

    def __init__(self, board: TaskBoard) -> None:
        self.board = board
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, step: Step, *, wake: asyncio.Event | None = None,
              max_backoff: float = RESTART_MAX) -> asyncio.Task[None]:
        """Run ``step`` until it returns None; ``wake`` (if given) cuts a wait short; after
        failures it waits at most ``max_backoff`` seconds."""
        task = asyncio.get_running_loop().create_task(self._run(name, step, wake, max_backoff), name=name)
        self.tasks[name] = task
        return task

    async def _run(self, name: str, step: Step, wake: asyncio.Event | None, max_backoff: float) -> None:
        while True:
            if wake is not None:
                wake.clear()  # before the pass: a wake-up during it means "look again"
            try:
                delay = await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The backoff is not cut short by wake-ups: a failing task must not spin.
                await asyncio.sleep(self.board.failed(name, exc, max_backoff))
                continue
            self.board.ok(name)
            if delay is None:
                return
            if wake is None:
                await asyncio.sleep(delay)
                continue
            await wait_event(wake, delay)

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Cancel every task and wait for them to end. A task that swallows its cancel (a
        plugin's step awaiting Python 3.11's ``wait_for`` as its event fires) is cancelled
        again; one still running after ``grace`` seconds is named in the log and left
        behind, so no task can hold up a shutdown."""
        tasks = list(self.tasks.values())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while pending := [t for t in tasks if not t.done()]:
            if (left := deadline - loop.time()) <= 0:
                log.warning("background task(s) %s did not stop when cancelled; left running",
                            ", ".join(sorted(t.get_name() for t in pending)))
                break
            for t in pending:
                t.cancel()
            await asyncio.wait(pending, timeout=min(0.5, left))
        for t in tasks:
            if t.done() and not t.cancelled():
                t.exception()  # retrieved: a step's last error is on the board, not "never retrieved"
        self.tasks.clear()


def run_thread(board: TaskBoard, name: str, body: Callable[[], None], stopping: Callable[[], bool],
               wait: Callable[[float], object]) -> None:
    """A worker thread's supervisor: ``body`` runs until ``stopping()``; if it raises, the
    failure is recorded and ``body`` starts again after the backoff (``wait`` may cut it short)."""
    while not stopping():
        try:
            body()
        except Exception as exc:
            wait(board.failed(name, exc))
        else:
            return


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500] if not text.startswith(type(exc).__name__) else text[:500]
