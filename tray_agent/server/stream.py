"""Following one agent's filtered event log on the team server. The replica's ``LogTail``
reads each new event once; every stream filters what the tail read for its agent, in
memory, and reads the database itself only while it is further behind than the tail keeps.
"""

from __future__ import annotations

import asyncio
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
                 allowed: Callable[[], bool] = lambda: True) -> AsyncGenerator[tuple[list[EventView], int] | None, None]:
    """Yields (events, seq read up to) whenever the cursor moves — with an empty list when
    it only moved past events this agent may not see — and None when a keep-alive is due.
    Ends when ``allowed()`` turns false (the device was revoked), checked with presence."""
    tail.start()
    reader = tail.reader(agent_id)
    # One waiter on ``stopping`` for the whole stream, rather than one per wake-up.
    stop_waiter = asyncio.ensure_future(stopping.wait())
    stop_waiter.add_done_callback(lambda _: reader.ready.set())
    loop = asyncio.get_running_loop()
    touched = 0.0
    quiet_since = time.monotonic()
    admin = False
    queues: set[int] = set()
    try:
        while not stopping.is_set():
            reader.ready.clear()  # before reading: an event read meanwhile sets it again
            if time.monotonic() - touched >= TOUCH_EVERY:
                if not await run_in_threadpool(allowed):
                    return
                await run_in_threadpool(inbox.touch_agent, agent_id)
                admin, queues = await run_in_threadpool(inbox.agent_scope, agent_id)
                reader.scope(admin, queues)
                touched = time.monotonic()
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
            timeout = max(0.05, min(keepalive - (time.monotonic() - quiet_since),
                                    TOUCH_EVERY - (time.monotonic() - touched)))
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
