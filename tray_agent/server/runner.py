"""Running the team server: PostgreSQL only, the channels' runtime (webhooks, pollers, the
outbox, sweeps) and the sync API under uvicorn, on the configured address, with TLS from a
certificate and key when given; ``sandbox=True`` points the channels at the provider sandbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from tray_agent.api.server import _Server
from tray_agent.app import App
from tray_agent.config import Config
from tray_agent.core.errors import InvalidInput
from tray_agent.paths import Paths
from tray_agent.run import channel_setup
from tray_agent.run.leases import PgLeases
from tray_agent.run.runtime import Runtime
from tray_agent.server.accounts import Accounts
from tray_agent.server import sweeps
from tray_agent.server.api import create_server_api
from tray_agent.server.wakeups import PgWakeups

if TYPE_CHECKING:
    from tray_agent.sandbox.autostart import AutoSandbox

log = logging.getLogger(__name__)


def postgres_url(raw: str) -> str:
    """The SQLAlchemy URL of the team's database; anything but PostgreSQL is refused."""
    raw = (raw or "").strip()
    if not raw:
        raise InvalidInput("The team server needs a PostgreSQL database: --database postgresql://user@host/db "
                           "(or [server] database, or TRAY_AGENT_SERVER_DATABASE).")
    try:
        url = make_url(raw)
    except ArgumentError:
        raise InvalidInput(f"{raw!r} is not a database URL; give postgresql://user@host/db.") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        raise InvalidInput("The team server runs on PostgreSQL only: SQLite is one desktop's store "
                           "(several replicas and agents share one PostgreSQL).")
    if backend not in ("postgresql", "postgres"):
        raise InvalidInput(f"The team server runs on PostgreSQL only, not {backend}.")
    # psycopg 3 is the driver the postgres extra installs.
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = (listen or "").strip().rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise InvalidInput(f"listen must be host:port (like 127.0.0.1:8700), not {listen!r}.")
    return host.strip("[]"), int(port)


def build_app(paths: Paths, cfg: Config, database: str) -> App:
    """The App on the team's database (migrated to the newest schema)."""
    cfg.database.url = postgres_url(database)
    if cfg.server.keep_events_days < 1:
        raise InvalidInput(f"[server] keep_events_days is {cfg.server.keep_events_days}; desktops resume from the "
                           "event log, so keep at least 1 day of it.")
    cfg.sandbox.mode = "off"  # the server starts the sandbox only when asked (--sandbox)
    return App(paths, cfg)


@dataclass
class Tls:
    cert: Path
    key: Path

    @classmethod
    def of(cls, cert: str, key: str) -> "Tls | None":
        if not cert and not key:
            return None
        if not (cert and key):
            raise InvalidInput("TLS needs both a certificate (--cert) and its key (--key).")
        for what, p in (("certificate", cert), ("key", key)):
            if not Path(p).is_file():
                raise InvalidInput(f"The TLS {what} {p} does not exist.")
        return cls(Path(cert), Path(key))


class _ReplicaServer(_Server):
    """uvicorn that, stopped by SIGTERM or SIGINT, returns instead of re-raising the signal,
    so the sandbox and the store close and the process exits 0 (what a service manager
    and a container runtime expect of a clean stop)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


class TeamServer:
    """One replica: uvicorn serving the team server's API in the current event loop."""

    def __init__(self, app: App, *, host: str, port: int, tls: Tls | None = None,
                 public_url: str = "", sandbox: bool = False) -> None:
        self.app = app
        self.host, self.port = host, port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{'https' if tls else 'http'}://{shown}:{port}"
        self.sandbox = sandbox
        # Replicas share the database: each background job runs where its lease is held.
        self.runtime = Runtime(app, public_url or self.url, leases=PgLeases(app.db))
        self.accounts = Accounts(app.inbox)
        self.api = create_server_api(app, self.runtime, self.accounts)
        #: Set when the server shuts down: open event streams end instead of holding it up.
        self.api.state.stopping = asyncio.Event()
        ssl = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)} if tls else {}
        # proxy_headers: a reverse proxy on loopback passes the client's address (rate limits).
        self.server = _ReplicaServer(uvicorn.Config(self.api, host=host, port=port, log_level="warning", lifespan="on",
                                                    access_log=False, timeout_graceful_shutdown=5,
                                                    proxy_headers=True, **ssl),  # type: ignore[arg-type]  # **ssl: str values, checked against every keyword
                                     self.api.state.stopping)
        self._auto: "AutoSandbox | None" = None
        # Commits through other replicas wake this one's event streams.
        self.wakeups = PgWakeups(app.db.url)
        self.api.state.subscribers.append(self.wakeups.subscribe)

    async def serve(self) -> None:
        """In the desktop runner's order: channel set-up, the sandbox when asked, the channels'
        runtime, ``agent_started``, then the server; stopped in reverse."""
        channel_setup.sync_config_channels(self.app)
        if self.sandbox:
            from tray_agent.sandbox.autostart import start_for

            self._auto = await start_for(self.app, self.runtime.public_base_url, lambda: bool(self.server.started))
        else:
            channel_setup.disable_sandbox_channels(self.app)
        self.runtime.start()
        self.runtime.start_leased(sweeps.JOB, sweeps.step(self.app))
        self.app.plugins.call_each("agent_started", app=self.app)
        self.wakeups.start()
        try:
            await self.server.serve()
        finally:
            await self.api.state.tail.stop()
            await asyncio.to_thread(self.wakeups.stop)
            await self.runtime.stop()
            if self._auto is not None:
                await self._auto.stop()

    def should_exit(self) -> None:
        self.server.should_exit = True

    async def wait_started(self) -> None:
        while not self.server.started:
            await asyncio.sleep(0.01)
