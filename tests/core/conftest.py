"""Core tests run on a real SQLite file and, for the ``db`` fixture, on a real PostgreSQL
server too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tray_agent.app import App
from tray_agent.channels import InboundMessage
from tray_agent.core.clock import FrozenClock
from tray_agent.core.views import AgentView, ChannelView


@dataclass
class World:
    """An inbox with an SMS-like and a WhatsApp-like channel and a local agent."""

    app: App
    clock: FrozenClock
    sms: ChannelView
    wa: ChannelView
    me: AgentView

    @property
    def inbox(self):  # type: ignore[no-untyped-def]
        return self.app.inbox

    def customer_says(self, channel: ChannelView, number: str, text: str, pid: str | None = None, **kw) -> int:  # type: ignore[no-untyped-def]
        self._n = getattr(self, "_n", 0) + 1
        return self.inbox.receive(channel.id, InboundMessage(pid or f"p{self._n}-{text[:8]}", number, text, **kw))

    def conv_of(self, message_id: int) -> int:
        from tray_agent.core.models import Message

        with self.app.db.read() as s:
            return s.get(Message, message_id).conversation_id


def _world(app: App, clock: FrozenClock) -> World:
    sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
    wa = app.inbox.add_channel("fake-wa", "WhatsApp", "+14155550101")
    return World(app, clock, sms, wa, app.agent)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, make_app: Callable[..., App], clock: FrozenClock) -> World:
    url = request.getfixturevalue("postgres_db_url") if request.param == "postgres" else None
    return _world(make_app(url, entry_points=False), clock)


@pytest.fixture
def sqlite_world(make_app: Callable[..., App], clock: FrozenClock) -> World:
    return _world(make_app(entry_points=False), clock)


@pytest.fixture
def world_cli(home, fake_channels, monkeypatch):  # type: ignore[no-untyped-def]
    """A home with one SMS conversation, driven through the CLI (which builds its own App
    with the fake channel types registered as they would be by an installed plugin)."""
    from tray_agent import plugins as plugins_mod

    real_load = plugins_mod.PluginHost.load_entry_points

    def load_with_fakes(self):  # type: ignore[no-untyped-def]
        real_load(self)
        if self.pm.get_plugin("fake_channels") is None:
            self.register(fake_channels, name="fake_channels")

    monkeypatch.setattr(plugins_mod.PluginHost, "load_entry_points", load_with_fakes)
    app = App(home)
    sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
    mid = app.inbox.receive(sms.id, InboundMessage("SM1", "+14155550199", "where is my parcel", customer_name="Ada"))
    from tray_agent.core.models import Message

    with app.db.read() as s:
        conv = s.get(Message, mid).conversation_id
    app.close()
    return home, conv
