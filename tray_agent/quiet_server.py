"""A uvicorn server that sleeps while nothing happens.

uvicorn's main loop wakes ten times a second to refresh the ``Date`` header and to notice
``should_exit``. In an idle daemon those ticks were its only wake-ups (0.3 % of a core,
ten wake-ups a second: what keeps a laptop's CPU from resting). Here the header is
refreshed once a second, and setting ``should_exit`` (from any thread, or uvicorn's own
signal handler) wakes the loop at once, so stopping is as prompt as before.
"""

from __future__ import annotations

import asyncio

import uvicorn

from tray_agent.waits import wait_event

#: Seconds between ``Date`` header refreshes (its resolution is one second).
TICK = 1.0


class QuietServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        self._exit_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        super().__init__(config)

    @property
    def should_exit(self) -> bool:
        return self._exit_requested

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._exit_requested = value
        if value and self._loop is not None and self._wake is not None:
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # the loop has already closed: nothing left to wake
                pass

    async def main_loop(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        # A counter of 0 makes every tick refresh the Date header (uvicorn does it every 10th).
        while not await self.on_tick(0):
            await wait_event(self._wake, TICK)
