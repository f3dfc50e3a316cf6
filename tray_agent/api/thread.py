"""Running an agent's runner in a background thread with its own event loop: for tests,
benchmarks, the plugin kit and programs that embed the agent next to a GUI loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tray_agent.app import App
from tray_agent.run.runner import Runner

T = TypeVar("T")


class ServerThread:
    """``with ServerThread(app) as srv:`` serves ``app`` on ``srv.url`` until the block ends.

    Given an App it builds a ``Runner(app, port=port)``; given a Runner it runs that one.
    ``run(coro)`` and ``call(fn)`` execute in the runner's loop (objects bound to it, such
    as a channel adapter's HTTP client, must be used there)."""

    def __init__(self, app: App | Runner, *, port: int | None = None) -> None:
        self.runner = app if isinstance(app, Runner) else Runner(app, port=port)
        self._thread = threading.Thread(target=self._run, name=f"api-{self.runner.port}", daemon=True)
        self._error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return self.runner.url

    @property
    def port(self) -> int:
        return self.runner.port

    @property
    def token(self) -> str:
        return self.runner.token

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            await self.runner.serve()

        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced by start() / stop() in the caller's thread
            self._error = exc

    def start(self, timeout: float = 20.0) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.runner.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The API server did not start: {self._error!r}")
            time.sleep(0.01)
        return self

    def run(self, coro: Awaitable[T], timeout: float = 60.0) -> T:
        """Run ``coro`` in the runner's event loop and return its result."""
        assert self.loop is not None, "start() the server first"

        async def wrapper() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run a plain function in the runner's loop thread."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper(), timeout)

    def stop(self, timeout: float = 20.0) -> None:
        self.runner.request_stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("The API server did not stop in time.")

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
