"""Serve any ASGI app (a fake provider, the agent's own API) with uvicorn on 127.0.0.1 in
a background thread, so tests talk real HTTP to it and stop it cleanly afterwards."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, Literal, TypeVar

from tray_agent.net import LOOPBACK as HOST, free_port

__all__ = ["HOST", "LoopbackServer", "free_port"]

T = TypeVar("T")


class LoopbackServer:
    """One uvicorn server on loopback, running its own event loop in a daemon thread.

    ``run(coro)`` executes a coroutine in that loop: code that shares the server's loop
    (a channel adapter's HTTP client, the outbox) must run there, not in the test's thread.
    """

    def __init__(self, app: Any, *, port: int | None = None, lifespan: Literal["auto", "on", "off"] = "auto") -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(
            app, host=HOST, port=self.port, log_level="warning", access_log=False, lifespan=lifespan))
        self._thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None

    def start(self, timeout: float = 15.0) -> "LoopbackServer":
        ready = threading.Event()

        def main() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            ready.set()
            try:
                self.loop.run_until_complete(self._server.serve())
            except BaseException as exc:  # surfaced by start() instead of dying silently
                self._error = exc
            finally:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.close()

        self._thread = threading.Thread(target=main, name=f"loopback-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(timeout)
        deadline = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self._server.started or self._error is not None or not self._thread.is_alive():
                break
            deadline.wait(0.02)
        if not self._server.started:
            raise RuntimeError(f"the loopback server on port {self.port} did not start: {self._error!r}")
        return self

    def run(self, coro: Awaitable[T], timeout: float = 60.0) -> T:
        """Run ``coro`` in the server's event loop and return its result."""
        assert self.loop is not None, "start() the server first"
        fut: Future[T] = asyncio.run_coroutine_threadsafe(_await(coro), self.loop)
        return fut.result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run a plain function in the server's loop thread (for objects bound to that loop)."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper(), timeout)

    def stop(self, timeout: float = 15.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _await(aw: Awaitable[T]) -> T:
    return await aw
