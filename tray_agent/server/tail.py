"""One reader of the event log per replica: woken by commits (this replica's EventBus, other
replicas' NOTIFY) or by its periodic re-read, it reads the new events once and wakes every
stream, which filters them for its agent in memory. A thousand connected desktops cost one
query per wake-up, not a thousand. A stream behind the window kept in memory reads the
database itself until it has caught up.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from tray_agent.core.models import Event
from tray_agent.core.service import Inbox

#: Seconds between reads when no wake-up came (a missed NOTIFY costs at most this).
REREAD = 2.0
#: Events kept in memory for streams to catch up from.
KEEP = 20_000
READ = 5_000

Subscribe = Callable[[Callable[[int], None]], Callable[[], None]]


class LogTail:
    def __init__(self, inbox: Inbox, subscribers: list[Subscribe] | tuple[Subscribe, ...] = (),
                 reread: float = REREAD) -> None:
        self.inbox = inbox
        self.subscribers = subscribers
        self.reread = reread
        self._rows: list[Event] = []
        self._seqs: list[int] = []
        #: Memory holds every event after ``_from`` up to ``end``, the seq the log is read up to.
        self._from = 0
        self.end: int | None = None
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribes: list[Callable[[], None]] = []

    def start(self) -> None:
        """Start reading in the running loop (once; later calls are no-ops)."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()

        def on_commit(_seq: int) -> None:  # the committing (or listening) thread
            try:
                loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:
                pass  # the loop has closed

        self._unsubscribes = [self.inbox.bus.subscribe(on_commit), *(sub(on_commit) for sub in self.subscribers)]
        self._task = loop.create_task(self._run(), name="log-tail")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribes:
            unsubscribe()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._read()
            except Exception:  # the database blinked: streams keep their cursors, read again soon
                await asyncio.sleep(1.0)
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.reread)
            except TimeoutError:
                pass

    async def _read(self) -> None:
        if self.end is None:
            _, end = await run_in_threadpool(self.inbox.event_bounds)
            self.end = self._from = end
            self._notify()
            return
        while True:
            rows, upto = await run_in_threadpool(self.inbox.events_tail, self.end, READ)
            moved = upto != self.end
            if rows:
                self._rows.extend(rows)
                self._seqs.extend(r.seq for r in rows)
                if len(self._rows) > KEEP:
                    self._from = self._seqs[-KEEP - 1]
                    del self._rows[:-KEEP], self._seqs[:-KEEP]
            self.end = upto
            if moved:
                self._notify()
            if len(rows) < READ:
                return

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_past(self, seq: int, timeout: float) -> None:
        """Return once the log is read beyond ``seq`` (or ``timeout`` passes)."""
        if self.end is not None and self.end > seq:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout=timeout)
        except TimeoutError:
            pass

    def after(self, seq: int, limit: int) -> tuple[list[Event], int] | None:
        """The events after ``seq`` from memory and the seq they reach, or None when
        ``seq`` is older than what memory holds (read the database instead)."""
        if self.end is None or seq < self._from:
            return None
        if seq >= self.end:
            return [], seq
        i = bisect.bisect_right(self._seqs, seq)
        rows = self._rows[i:i + limit]
        return rows, (rows[-1].seq if len(rows) == limit else self.end)
