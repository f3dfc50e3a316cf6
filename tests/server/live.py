"""A real team server for tests: an App on a fresh PostgreSQL database with the fake SMS and
WhatsApp channel types, served by uvicorn on a free loopback port in a background thread;
agents created by the server's account store, each signed in over HTTP with their code."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from tray_agent.app import App
from tray_agent.channels import InboundMessage
from tray_agent.config import load
from tray_agent.core.clock import FrozenClock
from tray_agent.core.models import Conversation, Message
from tray_agent.core.views import AgentView, ChannelView, QueueView
from tray_agent.paths import resolve
from tray_agent.plugins import PluginHost
from tray_agent.server.accounts import CONSOLE, Actor
from tray_agent.server.runner import TeamServer
from tray_agent.net import free_port
from tests.support import FakeChannels
from tests.waiting import wait_for

START = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
CONSOLE_ACTOR = Actor(CONSOLE)


def _stacks() -> str:
    """Every thread's stack, for a server that hangs (which call it waits on)."""
    import sys
    import traceback

    names = {t.ident: t.name for t in threading.enumerate()}
    return "\n".join(f"--- {names.get(ident, ident)}\n" + "".join(traceback.format_stack(frame)[-6:])
                     for ident, frame in sys._current_frames().items())


class ServerThread:
    """Serves a TeamServer in a background thread with its own event loop."""

    def __init__(self, server: TeamServer) -> None:
        self.server = server
        self._thread = threading.Thread(target=self._run, name=f"team-{server.port}", daemon=True)
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self.server.serve()

        try:
            asyncio.run(serve())
        except BaseException as exc:
            self._error = exc

    def _tasks(self) -> str:
        """The server loop's tasks and where each waits (a hang in the loop leaves every
        thread idle: the stuck await is in one of these)."""
        import io

        if self._loop is None:
            return ""
        out = io.StringIO()
        for task in list(asyncio.all_tasks(self._loop)):
            task.print_stack(limit=8, file=out)
        return out.getvalue()

    def start(self, timeout: float = 30.0) -> "ServerThread":
        self._thread.start()
        try:
            wait_for(lambda: self.server.server.started or not self._thread.is_alive(), timeout, every=0.01)
        except AssertionError:
            pass
        if not self.server.server.started:
            raise RuntimeError(f"The team server did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 60.0) -> None:
        # Longer than a pooled connection's checkout wait (SQLAlchemy's 30 s): a server that
        # stops while a request waits for one still stops; past that, the stacks say where.
        self.server.should_exit()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("The team server did not stop in time; where its threads were:\n" + _stacks()
                               + "\nand its event loop's tasks:\n" + self._tasks())


@dataclass
class Team:
    """A running server with a queue (Alice, Bea), Carl outside it, Ada the administrator."""

    app: App
    clock: FrozenClock
    fake: FakeChannels
    thread: ServerThread
    queue: QueueView
    sms: ChannelView
    agents: dict[str, AgentView] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return self.thread.server.url

    @property
    def inbox(self):  # type: ignore[no-untyped-def]
        return self.app.inbox

    @property
    def accounts(self):  # type: ignore[no-untyped-def]
        return self.thread.server.accounts

    def http(self, who: str | None = None, **kw: Any) -> httpx.Client:
        """A client for ``who`` (their device token), or an anonymous one."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)

    def sign_in(self, name: str, code: str, device: str = "Laptop") -> str:
        with self.http() as c:
            r = c.post("/sync/v1/sign-in", json={"code": code, "device_name": device})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def add_agent(self, name: str, *, admin: bool = False) -> AgentView:
        agent, code = self.accounts.add_agent(CONSOLE_ACTOR, name, f"{name.lower()}@example.com", admin=admin)
        self.agents[name] = agent
        self.tokens[name] = self.sign_in(name, code)
        return agent

    def customer_says(self, text: str = "hello", address: str | None = None) -> int:
        """A customer message on the SMS channel (routed to the queue); its conversation id."""
        n = next(self._ids)
        mid = self.inbox.receive(self.sms.id, InboundMessage(f"in-{n}-{time.monotonic_ns()}",
                                                             address or f"+1415555{n:04d}", text))
        with self.app.db.read() as s:
            return s.get(Message, mid).conversation_id  # type: ignore[union-attr]

    def address_of(self, conversation_id: int) -> str:
        with self.app.db.read() as s:
            return s.get(Conversation, conversation_id).customer_address  # type: ignore[union-attr]


@contextmanager
def team_server(home: Path, database_url: str, sms_settings: dict[str, Any] | None = None) -> Iterator[Team]:
    """``sms_settings``: the SMS channel's settings (``{"webhook": "record"}`` gives it a webhook)."""
    paths = resolve(home).ensure()
    cfg = load(paths, environ={})
    cfg.database.url = database_url
    cfg.sandbox.mode = "off"
    host = PluginHost()
    fake = FakeChannels()
    host.register(fake, name="fake_channels")
    clock = FrozenClock(START)
    app = App(paths, cfg, clock=clock, plugins=host, load_entry_points=False)
    try:
        sms = app.inbox.add_channel("fake-sms", "Support SMS", "+14155550100", sms_settings)
        srv = TeamServer(app, host="127.0.0.1", port=free_port("127.0.0.1"))
        thread = ServerThread(srv).start()
        try:
            team = Team(app, clock, fake, thread, queue=None, sms=sms)  # type: ignore[arg-type]
            alice, bea = team.add_agent("Alice"), team.add_agent("Bea")
            team.add_agent("Carl")
            team.add_agent("Ada", admin=True)
            team.queue = app.inbox.add_queue("Support", [alice.id, bea.id])
            app.inbox.update_channel(sms.id, route_queue_id=team.queue.id)
            yield team
        finally:
            thread.stop()
    finally:
        app.close()


@contextmanager
def sandbox_server(home: Path, database_url: str) -> Iterator[TeamServer]:
    """``tray-agent server --sandbox`` in a thread: the installed plugins (the real SMS and
    WhatsApp channels) pointed at an in-process provider sandbox."""
    paths = resolve(home).ensure()
    cfg = load(paths, environ={})
    cfg.database.url = database_url
    app = App(paths, cfg)
    srv = TeamServer(app, host="127.0.0.1", port=free_port(), sandbox=True)
    thread = ServerThread(srv).start()
    try:
        yield srv
    finally:
        thread.stop()
        app.close()


@dataclass
class Replica:
    """A second replica of ``Team``'s server: its own App and channel plugin, the same database."""

    server: TeamServer
    thread: ServerThread
    fake: FakeChannels

    @property
    def url(self) -> str:
        return self.server.url

    def http(self, team: Team, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {team.tokens[who]}"}, timeout=60)


@contextmanager
def second_replica(team: Team, database_url: str, home: Path) -> Iterator[Replica]:
    """Started, listening for the other replica's wake-ups, its reader of the log running."""
    paths = resolve(home).ensure()
    cfg = load(paths, environ={})
    cfg.database.url, cfg.sandbox.mode = database_url, "off"
    host = PluginHost()
    fake = FakeChannels()
    host.register(fake, name="fake_channels")
    app = App(paths, cfg, clock=team.clock, plugins=host, load_entry_points=False)
    srv = TeamServer(app, host="127.0.0.1", port=free_port())
    replica = Replica(srv, ServerThread(srv).start(), fake)
    try:
        assert srv.wakeups.listening.wait(20)
        with replica.http(team, "Bea") as c:  # the first stream starts the replica's reader of the log
            since = c.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"]
            c.get("/sync/v1/events", params={"since": since, "wait": 0.5})
        yield replica
    finally:
        replica.thread.stop()  # a test may have stopped it already: then this returns at once
        app.close()

