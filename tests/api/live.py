"""A real agent for HTTP and browser tests: an App on its own home with the fake SMS and
WhatsApp channel types, a local agent, a colleague and a queue, served by uvicorn on a
free loopback port in a background thread."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from tray_agent.api.security import window_url
from tray_agent.api.thread import ServerThread
from tray_agent.app import App
from tray_agent.channels import InboundFile, InboundMessage, StatusUpdate
from tray_agent.config import load
from tray_agent.core.clock import FrozenClock
from tray_agent.default_plugins import tel_call_handler
from tray_agent.core.models import Message
from tray_agent.core.views import AgentView, ChannelView, QueueView
from tray_agent.paths import resolve
from tray_agent.plugins import PluginHost
from tests.support import FakeChannels

START = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
#: A valid 1x1 PNG (thumbnails in the window).
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a0a0a7b50000000049454e44ae426082")


@dataclass
class LiveAgent:
    app: App
    clock: FrozenClock
    fake: FakeChannels
    server: ServerThread
    me: AgentView
    bea: AgentView
    queue: QueueView
    sms: ChannelView
    wa: ChannelView
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def inbox(self):  # type: ignore[no-untyped-def]
        return self.app.inbox

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token(self) -> str:
        return self.server.token

    def window_url(self, conversation_id: int | None = None) -> str:
        return window_url(self.url, self.token, conversation_id)

    def client(self, **kw: object) -> httpx.Client:
        """An HTTP client carrying the token as a bearer header."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"},
                            timeout=10, **kw)  # type: ignore[arg-type]

    def inbound(self, channel: ChannelView, address: str, text: str = "", *, name: str | None = None,
                files: tuple[tuple[str, str, bytes], ...] = ()) -> int:
        """A customer message, as a channel adapter would hand it over; returns its id."""
        return self.inbox.receive(channel.id, InboundMessage(
            f"in-{next(self._ids)}", address, text, customer_name=name,
            files=tuple(InboundFile(n, m, d) for n, m, d in files)))

    def stop_server(self) -> None:
        self.server.stop()

    def start_server(self) -> None:
        """Serve again on the same port (the window reconnects to the same address)."""
        self.server = ServerThread(self.app, port=self.server.port).start()

    def conversation_of(self, message_id: int) -> int:
        """The conversation a message is in (tests may read the store directly)."""
        with self.app.db.read() as s:
            return s.get(Message, message_id).conversation_id  # type: ignore[union-attr]

    def status(self, channel: ChannelView, provider_id: str, status: str, **kw: object) -> None:
        self.inbox.update_status(channel.id, StatusUpdate(provider_id, status, **kw))  # type: ignore[arg-type]


@contextmanager
def live_agent(home: Path, *, port: int | None = None, plugins: tuple[object, ...] = ()) -> Iterator[LiveAgent]:
    """Build the agent on ``home`` (with extra in-process ``plugins``) and serve it until
    the block ends."""
    with pytest.MonkeyPatch.context() as mp:
        # The built-in tel: handler runs this instead of the desktop's dialer.
        mp.setenv("TRAY_AGENT_TEL_OPENER", "true")
        paths = resolve(home).ensure()
        cfg = load(paths, environ={})
        cfg.sandbox.mode = "off"
        cfg.agent.name, cfg.agent.email = "Alex Agent", "alex@example.com"
        host = PluginHost()
        fake = FakeChannels()
        host.register(fake, name="fake_channels")
        host.register(tel_call_handler, name="tel_call_handler")  # the built-in one, without other entry points
        for i, plugin in enumerate(plugins):
            host.register(plugin, name=f"test_plugin_{i}")
        clock = FrozenClock(START)
        app = App(paths, cfg, clock=clock, plugins=host, load_entry_points=False)
    try:
        inbox = app.inbox
        me = app.agent
        bea = inbox.add_agent("Bea Colleague", "bea@example.com")
        queue = inbox.add_queue("Sales", [me.id, bea.id])
        sms = inbox.add_channel("fake-sms", "Support SMS", "+14155550100")
        wa = inbox.add_channel("fake-wa", "Support WhatsApp", "+14155550101")
        server = ServerThread(app, port=port).start()
        try:
            yield LiveAgent(app, clock, fake, server, me, bea, queue, sms, wa)
        finally:
            server.stop()
    finally:
        app.close()
