"""One reader of the event log per replica: woken by commits (this replica's EventBus, other
replicas' NOTIFY) or by its periodic re-read, it reads the new events once and wakes the
streams that may see one of them (by agent and queue), each of which filters them for its
agent in memory. A thousand connected desktops cost one query per wake-up, not a thousand,
and a message wakes its queue's members, not every stream. A stream behind the window kept
in memory reads the database itself until it has caught up.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from tray_agent.core import events
from tray_agent.core.service import Inbox
from tray_agent.core.sync import LoggedEvent
from tray_agent.server.frames import Frames

#: Seconds between reads when no wake-up came (a missed NOTIFY costs at most this).
REREAD = 2.0
#: Events kept in memory for streams to catch up from (plain records: see ``LoggedEvent``).
KEEP = 20_000
READ = 5_000

Subscribe = Callable[[Callable[[int], None]], Callable[[], None]]


class Reader:
    """One stream's interest in the log: woken (``ready`` set) when an event it may see is
    read, or anything that can change what it sees. A superset of what ``for_agent`` lets
    through: a needless wake-up costs a filter, a missing one a delay."""

    def __init__(self, tail: "LogTail", agent_id: int) -> None:
        self.tail = tail
        self.agent_id = agent_id
        self.admin = False
        self.queues: frozenset[int] = frozenset()
        self.ready = asyncio.Event()

    def scope(self, admin: bool, queues: set[int]) -> None:
        """What this agent sees now (re-read by the stream), for the tail's index."""
        self.tail._index(self, admin, frozenset(queues))

    def close(self) -> None:
        self.tail._drop(self)


class LogTail:
    def __init__(self, inbox: Inbox, subscribers: list[Subscribe] | tuple[Subscribe, ...] = (),
                 reread: float = REREAD) -> None:
        self.inbox = inbox
        self.subscribers = subscribers
        self.reread = reread
        self._rows: list[LoggedEvent] = []
        self._seqs: list[int] = []
        #: Memory holds every event after ``_from`` up to ``end``, the seq the log is read up to.
        self._from = 0
        self.end: int | None = None
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribes: list[Callable[[], None]] = []
        self._readers: set[Reader] = set()
        self._by_agent: dict[int, set[Reader]] = {}
        self._by_queue: dict[int, set[Reader]] = {}
        self._admins: set[Reader] = set()
        #: Each event's SSE frame, built by the first stream that sends it.
        self.frames = Frames()

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
                self._notify(rows)
            if len(rows) < READ:
                return

    def _notify(self, rows: list[LoggedEvent] | None = None) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for reader in self._readers if rows is None else self._concerned(rows):
            reader.ready.set()

    def _concerned(self, rows: list[LoggedEvent]) -> set[Reader]:
        """The readers that may see one of ``rows``: its owner, its queue's members, whoever
        did it, the admins; everyone for an event that is everyone's or changes who sees
        what (a claim or transfer names the previous owner, a queue's members changed)."""
        out = set(self._admins)
        by_agent, by_queue = self._by_agent, self._by_queue
        for e in rows:
            data = e.data or {}
            if ((e.visible_agent_id is None and e.visible_queue_id is None) or "prev_agent_id" in data
                    or e.type in (events.AGENT_UPDATED, events.CONVERSATION_TRANSFERRED)):
                return set(self._readers)
            for key in (e.visible_agent_id, e.agent_id):
                if key is not None and key in by_agent:
                    out |= by_agent[key]
            if e.visible_queue_id is not None and e.visible_queue_id in by_queue:
                out |= by_queue[e.visible_queue_id]
        return out

    # -- readers -------------------------------------------------------------------

    def reader(self, agent_id: int) -> Reader:
        """A stream's registration (``close()`` it when the stream ends)."""
        r = Reader(self, agent_id)
        self._readers.add(r)
        self._by_agent.setdefault(agent_id, set()).add(r)
        return r

    def _index(self, r: Reader, admin: bool, queues: frozenset[int]) -> None:
        for q in r.queues - queues:
            self._by_queue[q].discard(r)
        for q in queues - r.queues:
            self._by_queue.setdefault(q, set()).add(r)
        r.admin, r.queues = admin, queues
        (self._admins.add if admin else self._admins.discard)(r)

    def _drop(self, r: Reader) -> None:
        self._readers.discard(r)
        self._admins.discard(r)
        self._by_agent.get(r.agent_id, set()).discard(r)
        for q in r.queues:
            self._by_queue[q].discard(r)

    async def wait_past(self, seq: int, timeout: float) -> None:
        """Return once the log is read beyond ``seq`` (or ``timeout`` passes)."""
        if self.end is not None and self.end > seq:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout=timeout)
        except TimeoutError:
            pass

    def after(self, seq: int, limit: int) -> tuple[list[LoggedEvent], int] | None:
        """The events after ``seq`` from memory and the seq they reach, or None when
        ``seq`` is older than what memory holds (read the database instead)."""
        if self.end is None or seq < self._from:
            return None
        if seq >= self.end:
            return [], seq
        i = bisect.bisect_right(self._seqs, seq)
        rows = self._rows[i:i + limit]
        return rows, (rows[-1].seq if len(rows) == limit else self.end)
