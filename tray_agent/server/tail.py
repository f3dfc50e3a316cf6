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
from tray_agent.core.base import event_view
from tray_agent.core.sync import LoggedEvent
from tray_agent.core.views import EventView
from tray_agent.server.frames import Frames
from tray_agent.waits import wait_event

#: Seconds between reads when no wake-up came (a missed NOTIFY costs at most this).
REREAD = 2.0
#: The least time between two reads' starts (seconds).
GAP = 0.02
#: Events kept in memory for streams to catch up from (plain records: see ``LoggedEvent``).
KEEP = 20_000
READ = 5_000
#: Events held for one caught-up stream between its steps.
HELD = 1_000
#: Views kept, shared by the streams (a few seconds of a busy server's events).
VIEWS = 4_096

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
        #: Once the stream has caught up with the tail (``synced`` is the seq it reached), the
        #: tail hands it only the events that may concern it: a stream then filters what is
        #: for it, not every event of every queue. None: read the tail's memory instead.
        self.synced: int | None = None
        self.rows: list[LoggedEvent] = []

    def scope(self, admin: bool, queues: set[int]) -> None:
        """What this agent sees now (re-read by the stream), for the tail's index."""
        if admin != self.admin or queues != self.queues:
            self.unsync()  # what concerned it before the change was chosen by the old scope
        self.tail._index(self, admin, frozenset(queues))

    def unsync(self) -> None:
        self.synced, self.rows = None, []

    def close(self) -> None:
        self.tail._drop(self)


class LogTail:
    def __init__(self, inbox: Inbox, subscribers: list[Subscribe] | tuple[Subscribe, ...] = (),
                 reread: float = REREAD, gap: float = GAP) -> None:
        self.inbox = inbox
        self.subscribers = subscribers
        self.reread = reread
        self.gap = gap
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
        #: Each event's view, likewise (a view is the event's, whoever may see it).
        self._views: dict[int, tuple[LoggedEvent, EventView]] = {}

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
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            started = loop.time()
            try:
                await self._read()
            except Exception:  # the database blinked: streams keep their cursors, read again soon
                await asyncio.sleep(1.0)
                continue
            await wait_event(self._wake, self.reread)
            # At most one read per GAP: under load, what both replicas committed meanwhile is
            # read together (a read per commit was a third of a busy replica's CPU); an idle
            # replica's first wake-up is read at once.
            if (rest := self.gap - (loop.time() - started)) > 0:
                await asyncio.sleep(rest)

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
        if rows is None:
            for reader in self._readers:
                reader.ready.set()
            return
        woken: set[Reader] = set()
        for e in rows:
            concerned = self._concerned(e)
            woken |= concerned
            for reader in concerned:
                if reader.synced is None:
                    continue
                if len(reader.rows) >= HELD:  # a stream this far behind reads the tail's memory
                    reader.unsync()
                else:
                    reader.rows.append(e)
        for reader in woken:
            reader.ready.set()

    def _concerned(self, e: LoggedEvent) -> set[Reader]:
        """The readers that may see ``e``: its owner, its queue's members, whoever did it,
        the admins; everyone for an event that is everyone's or changes who sees what (a
        claim or transfer names the previous owner, a queue's members changed)."""
        data = e.data or {}
        if ((e.visible_agent_id is None and e.visible_queue_id is None) or "prev_agent_id" in data
                or e.type in (events.AGENT_UPDATED, events.CONVERSATION_TRANSFERRED)):
            return self._readers
        out = set(self._admins)
        by_agent, by_queue = self._by_agent, self._by_queue
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
        await wait_event(self._changed, timeout)

    def take(self, r: Reader, seq: int, limit: int) -> tuple[list[LoggedEvent], int] | None:
        """``after`` for one stream at ``seq``: once it has caught up, only the events that
        may concern it (a superset of what it may see), read since its last step."""
        if r.synced is not None and r.synced == seq and self.end is not None and len(r.rows) <= limit:
            rows, r.rows = r.rows, []
            r.synced = self.end
            return rows, self.end
        got = self.after(seq, limit)
        if got is not None and got[1] == self.end:
            r.synced, r.rows = self.end, []
        else:
            r.unsync()
        return got

    def view(self, e: LoggedEvent) -> EventView:
        """``e``'s view, built once for every stream (kept for the record the tail holds, so
        a seq read again after a restore gets its own)."""
        held = self._views.get(e.seq)
        if held is not None and held[0] is e:
            return held[1]
        v = event_view(e)
        if len(self._views) >= VIEWS:
            del self._views[next(iter(self._views))]  # the oldest: streams move forward
        self._views[e.seq] = (e, v)
        return v

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
