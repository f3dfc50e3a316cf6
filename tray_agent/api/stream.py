"""Following the event log for one agent: read what is new after a sequence number, then
sleep until the EventBus says a commit happened (or a heartbeat is due). No polling loop:
a quiet inbox costs one read per heartbeat, which also picks up other processes' commits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from tray_agent.core.service import Inbox
from tray_agent.core.sync import for_agent
from tray_agent.core.views import EventView

BATCH = 500
HEARTBEAT = 15.0
#: Presence is refreshed this often while a window is connected (``online`` lasts 2 min).
TOUCH_EVERY = 30.0
#: A client this far behind reloads its views instead of replaying every event.
RESYNC_GAP = 5000


async def follow(inbox: Inbox, agent_id: int, after: int, *, heartbeat: float = HEARTBEAT,
                 stopping: asyncio.Event | None = None) -> AsyncIterator[list[EventView] | None]:
    """Batches of events after ``after`` in order until ``stopping`` is set; ``None``
    marks a heartbeat. Records the agent's presence while it runs."""
    stopping = stopping or asyncio.Event()
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def on_commit(_seq: int) -> None:  # runs in the committing thread
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:
            pass  # the loop has closed; the unsubscribe below is about to run

    unsubscribe = inbox.bus.subscribe(on_commit)
    touched = 0.0
    try:
        while not stopping.is_set():
            if time.monotonic() - touched >= TOUCH_EVERY:
                await run_in_threadpool(inbox.touch_agent, agent_id)
                touched = time.monotonic()
            # Clear before reading: a commit landing during the read sets it again, so
            # the wait below returns at once and nothing is left unread.
            wake.clear()
            batch, upto = await run_in_threadpool(_read, inbox, agent_id, after)
            moved = upto > after
            after = upto
            if batch:
                yield batch
                continue
            if moved:
                continue  # read past events this agent may not see: look again before sleeping
            waits = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopping.wait())}
            try:
                done, _ = await asyncio.wait(waits, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waits:
                    task.cancel()
            if not done:
                yield None
    finally:
        unsubscribe()


def _read(inbox: Inbox, agent_id: int, after: int) -> tuple[list[EventView], int]:
    """The events after ``after`` this agent may see, and the seq read up to. Filtered in
    memory as the team server's reader does, so a conversation that leaves the agent's view
    (a colleague took it over, it was transferred away) comes with its ``conversation.removed``
    even when the event itself is no longer theirs to see."""
    rows, upto = inbox.events_tail(after, BATCH)
    admin, queues = inbox.agent_scope(agent_id)
    return for_agent(rows, agent_id, admin, queues), upto
