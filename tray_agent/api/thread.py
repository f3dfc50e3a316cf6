"""Running the API server in a background thread with its own event loop: for tests,
benchmarks and programs that embed the agent next to a GUI loop."""

from __future__ import annotations

import asyncio
import threading
import time

from tray_agent.api.server import ApiServer
from tray_agent.app import App


class ServerThread:
    """``with ServerThread(app) as srv:`` serves ``app`` on ``srv.url`` until the block ends."""

    def __init__(self, app: App, *, port: int | None = None) -> None:
        self.server = ApiServer(app, port=port)
        self._thread = threading.Thread(target=self._run, name=f"api-{self.server.port}", daemon=True)
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token(self) -> str:
        return str(self.server.api.state.token)

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve())
        except BaseException as exc:  # surfaced by start() / stop() in the caller's thread
            self._error = exc

    def start(self, timeout: float = 20.0) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The API server did not start: {self._error!r}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        self.server.should_exit()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("The API server did not stop in time.")

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
