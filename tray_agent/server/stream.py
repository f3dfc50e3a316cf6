"""Following one agent's filtered event log on the team server. A commit in this process
wakes the reader at once (the EventBus); commits made through another replica are picked up
by a wake-up from ``wakeups`` (LISTEN/NOTIFY) or, failing that, by the periodic re-read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool

from tray_agent.core.service import Inbox
from tray_agent.core.views import EventView

BATCH = 500
#: Each stream re-reads this often on its own, the last resort: a replica's wake-ups
#: (wakeups.PgWakeups) already cover other replicas' commits within seconds.
REREAD = 15.0
KEEPALIVE = 15.0
#: Presence is refreshed (and the device checked for revocation) this often while connected.
TOUCH_EVERY = 30.0

Subscribe = Callable[[Callable[[int], None]], Callable[[], None]]


async def follow(inbox: Inbox, agent_id: int, after: int, *, stopping: asyncio.Event,
                 subscribers: tuple[Subscribe, ...] = (), reread: float = REREAD,
                 keepalive: float = KEEPALIVE,
                 allowed: Callable[[], bool] = lambda: True) -> AsyncIterator[tuple[list[EventView], int] | None]:
    """Yields (events, seq read up to) whenever the cursor moves — with an empty list when
    it only moved past events this agent may not see — and None when a keep-alive is due.
    Ends when ``allowed()`` turns false (the device was revoked), checked with presence."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def on_commit(_seq: int) -> None:  # runs in the committing (or listening) thread
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:
            pass  # the loop has closed; the unsubscribe below is about to run

    unsubscribes = [inbox.bus.subscribe(on_commit), *(sub(on_commit) for sub in subscribers)]
    touched = quiet_since = 0.0
    try:
        quiet_since = time.monotonic()
        while not stopping.is_set():
            if time.monotonic() - touched >= TOUCH_EVERY:
                if not await run_in_threadpool(allowed):
                    return
                await run_in_threadpool(inbox.touch_agent, agent_id)
                touched = time.monotonic()
            # Cleared before reading: a commit during the read sets it again, and the wait
            # below returns at once.
            wake.clear()
            batch, upto = await run_in_threadpool(inbox.events_for, agent_id, after, BATCH)
            if upto != after:
                after = upto
                yield batch, upto
                quiet_since = time.monotonic()
                continue
            waits = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopping.wait())}
            try:
                await asyncio.wait(waits, timeout=reread, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waits:
                    task.cancel()
            if time.monotonic() - quiet_since >= keepalive:
                quiet_since = time.monotonic()
                yield None
    finally:
        for unsubscribe in unsubscribes:
            unsubscribe()
