"""Following one agent's filtered event log on the team server. The replica's ``LogTail``
reads each new event once; every stream filters what the tail read for its agent, in
memory, and reads the database itself only while it is further behind than the tail keeps.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Callable

from starlette.concurrency import run_in_threadpool

from tray_agent.core import events
from tray_agent.core.service import Inbox
from tray_agent.core.sync import for_agent
from tray_agent.core.views import EventView
from tray_agent.server.tail import LogTail

BATCH = 500
KEEPALIVE = 15.0
#: Presence is refreshed (and the device checked for revocation, the agent's role and
#: queues re-read) this often while connected.
TOUCH_EVERY = 30.0


async def follow(inbox: Inbox, tail: LogTail, agent_id: int, after: int, *, stopping: asyncio.Event,
                 keepalive: float = KEEPALIVE,
                 heartbeat: Callable[[], bool] | None = None) -> AsyncGenerator[tuple[list[EventView], int] | None, None]:
    """Yields (events, seq read up to) whenever the cursor moves — with an empty list when
    it only moved past events this agent may not see — and None when a keep-alive is due.
    Every ``TOUCH_EVERY`` ``heartbeat()`` records the agent present (by default
    ``touch_agent``); the stream ends when it returns false (the device was revoked)."""
    def check() -> tuple[bool, bool, set[int]]:
        """One trip to a worker thread: presence, then what the agent sees now."""
        if heartbeat is None:
            inbox.touch_agent(agent_id)
        elif not heartbeat():
            return False, False, set()
        return (True, *inbox.agent_scope(agent_id))

    tail.start()
    reader = tail.reader(agent_id)
    # One waiter on ``stopping`` for the whole stream, rather than one per wake-up.
    stop_waiter = asyncio.ensure_future(stopping.wait())
    stop_waiter.add_done_callback(lambda _: reader.ready.set())
    loop = asyncio.get_running_loop()
    due = 0.0  # the first check at once: it reads the scope
    quiet_since = time.monotonic()
    admin = False
    queues: set[int] = set()
    try:
        while not stopping.is_set():
            reader.ready.clear()  # before reading: an event read meanwhile sets it again
            if time.monotonic() >= due:
                present, admin, queues = await run_in_threadpool(check)
                if not present:
                    return
                reader.scope(admin, queues)
                # Streams that connected together (a replica restarted, a team signed in)
                # would check in together every period: one burst of database round trips
                # that stalled every replica's deliveries for a second at 200 streams. The
                # second check comes at a random point of the first period, then each period.
                due = time.monotonic() + (TOUCH_EVERY if due else TOUCH_EVERY * random.random())
            got = tail.take(reader, after, BATCH)
            if got is not None and any(r.type == events.AGENT_UPDATED and (r.data or {}).get("change") == "queue"
                                       for r in got[0]):
                admin, queues = await run_in_threadpool(inbox.agent_scope, agent_id)
                reader.scope(admin, queues)
                reader.unsync()
                # Every event since, filtered with the new queues (not only those the old
                # scope chose for this stream).
                got = tail.after(after, BATCH)
            if got is None:  # further behind than the tail keeps: read the database
                batch, upto = await run_in_threadpool(inbox.events_for, agent_id, after, BATCH)
            else:
                rows, upto = got
                batch = for_agent(rows, agent_id, admin, queues, tail.view)
            if upto != after:
                after = upto
                yield batch, upto
                quiet_since = time.monotonic()
                continue
            # Sleep until the tail reads an event this agent may see, the next keep-alive or
            # the next presence (revocation) check; events it may not see move the cursor
            # when it next wakes.
            timeout = max(0.05, min(keepalive - (time.monotonic() - quiet_since), due - time.monotonic()))
            timer = loop.call_later(timeout, reader.ready.set)
            try:
                await reader.ready.wait()
            finally:
                timer.cancel()
            if time.monotonic() - quiet_since >= keepalive:
                quiet_since = time.monotonic()
                yield None
    finally:
        reader.close()
        stop_waiter.cancel()
