"""Waiting on an asyncio event with a deadline, in a way a cancel always ends.

Python 3.11's ``asyncio.wait_for`` swallows a cancel that arrives while the awaited event
fires (it returns the result instead): a supervised task woken as the runner stopped it
went on running, and the shutdown waited for it forever. ``asyncio.timeout`` tells its own
deadline from a cancel, so a cancel always propagates.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; whether it was set."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
