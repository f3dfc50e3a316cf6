"""Two replicas on one PostgreSQL: each background job (a channel's poller, the outbox, the
sweeps) runs on one replica at a time, moves to the other within 10 s when its holder dies,
and no reply is sent twice — neither one the dead holder left mid-send nor one the live
holder is sending while the other replica starts."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tray_agent.app import App
from tray_agent.channels import (
    ChannelConfig, ChannelRules, ChannelType, Health, InboundMessage, OutboundMessage, SendResult,
)
from tray_agent.config import load
from tray_agent.core.models import Message
from tray_agent.core.team_models import JobLease
from tray_agent.hookspecs import hookimpl
from tray_agent.net import free_port
from tray_agent.paths import resolve
from tray_agent.plugins import PluginHost
from tray_agent.server.runner import TeamServer
from tests.server.live import CONSOLE_ACTOR, ServerThread, wait_for
from tests.support import ICON

pytestmark = pytest.mark.postgres
TAKEOVER_MAX = 10.0


@dataclass
class Provider:
    """What the provider saw, from every replica: polls and sends, each with who made it.
    ``hold`` keeps sends waiting (a send in flight) until it is cleared."""

    polls: list[tuple[str, float]] = field(default_factory=list)
    sends: list[tuple[str, int]] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    waiting: list[tuple[str, int]] = field(default_factory=list)

    def sent_ids(self) -> list[int]:
        return sorted(mid for _, mid in self.sends)

    def pollers_since(self, t: float) -> set[str]:
        return {who for who, at in list(self.polls) if at >= t}


@dataclass
class _Adapter:
    replica: str
    provider: Provider

    async def send(self, message: OutboundMessage) -> SendResult:
        self.provider.waiting.append((self.replica, message.message_id))
        while self.provider.hold.is_set():
            await asyncio.sleep(0.02)
        self.provider.sends.append((self.replica, message.message_id))
        return SendResult(f"out-{message.message_id}")

    async def find_sent(self, message_id: int) -> str | None:
        return f"out-{message_id}" if any(mid == message_id for _, mid in self.provider.sends) else None

    def webhook_routes(self) -> list[Any]:
        return []

    async def poll(self) -> None:
        self.provider.polls.append((self.replica, time.monotonic()))

    async def check_health(self) -> Health:
        return Health(True, "leases")

    async def aclose(self) -> None:
        return None


@dataclass
class PollingChannel:
    """A plugin with a polled channel type whose adapter reports to the shared provider."""

    replica: str
    provider: Provider

    @hookimpl
    def register_channel_types(self, register: Callable[[ChannelType], None]) -> None:
        register(ChannelType(name="lease-sms", label="Polled SMS", icon_svg=ICON,
                             factory=lambda cfg, ctx: self._adapter(cfg), poll_interval=0.2,
                             rules=ChannelRules(business_can_start=True)))

    def _adapter(self, cfg: ChannelConfig) -> _Adapter:
        return _Adapter(self.replica, self.provider)


def replica(tmp: Path, url: str, name: str, provider: Provider) -> TeamServer:
    paths = resolve(tmp / name).ensure()
    cfg = load(paths, environ={})
    cfg.database.url, cfg.sandbox.mode = url, "off"
    host = PluginHost()
    host.register(PollingChannel(name, provider), name=f"lease_channel_{name}")
    app = App(paths, cfg, plugins=host, load_entry_points=False)
    return TeamServer(app, host="127.0.0.1", port=free_port())


def crash(srv: TeamServer) -> None:
    """The replica's background work ends abruptly, as in a SIGKILL: no lease is released,
    a send in flight never finishes."""
    tasks = list(srv.runtime.supervisor.tasks.values())
    loop = tasks[0].get_loop()
    done = threading.Event()

    def cancel() -> None:
        for t in tasks:
            t.cancel()
        done.set()
    loop.call_soon_threadsafe(cancel)
    assert done.wait(10)


def holders(app: App) -> dict[str, str]:
    with app.db.read() as s:
        return {r.name: r.holder for r in s.execute(select(JobLease)).scalars()}


@dataclass
class Pair:
    a: TeamServer
    b: TeamServer
    threads: dict[str, ServerThread]
    provider: Provider
    channel_id: int
    agent_id: int

    def reply(self, text: str, n: int) -> int:
        inbox = self.a.app.inbox
        mid = inbox.receive(self.channel_id, InboundMessage(f"in-{text}-{n}", f"+1415555{n:04d}", "hi"))
        with self.a.app.db.read() as s:
            conv = s.get_one(Message, mid).conversation_id
        return inbox.reply(self.agent_id, conv, text).id

    def start_b(self) -> None:
        self.threads["b"] = ServerThread(self.b).start()


@contextmanager
def two_replicas(tmp_path: Path, url: str, provider: Provider) -> Iterator[Pair]:
    a, b = replica(tmp_path, url, "a", provider), replica(tmp_path, url, "b", provider)
    ch = a.app.inbox.add_channel("lease-sms", "Polled SMS", "+14155550100")
    agent, _ = a.accounts.add_agent(CONSOLE_ACTOR, "Bea", "bea@example.com")
    threads = {"a": ServerThread(a).start()}
    try:
        wait_for(lambda: provider.pollers_since(0) == {"a"}, what="replica a polling")
        yield Pair(a, b, threads, provider, ch.id, agent.id)
    finally:
        provider.hold.clear()
        for t in threads.values():
            t.stop()
        a.app.close()
        b.app.close()


def test_each_job_runs_on_one_replica_and_moves_within_10s_when_its_holder_dies(
        tmp_path: Path, postgres_db_url: str):
    provider = Provider()
    with two_replicas(tmp_path, postgres_db_url, provider) as pair:
        pair.start_b()
        jobs = {"outbox", "auto-closure", "sweeps", "team-sweep", f"poll-{pair.channel_id}"}
        a_id, b_id = pair.a.runtime.leases.holder, pair.b.runtime.leases.holder
        wait_for(lambda: holders(pair.a.app) == dict.fromkeys(jobs, a_id), what="a holding every job")
        before = [pair.reply("before", n) for n in range(3)]
        wait_for(lambda: provider.sent_ids() == sorted(before), what="the first replies sent")
        watched = time.monotonic()
        time.sleep(3)  # B's heartbeat runs every 2 s: it had its chances to take a job
        assert provider.pollers_since(watched) == {"a"}
        assert holders(pair.a.app) == dict.fromkeys(jobs, a_id)

        # A dies while a reply is at its provider call (committed as "sending").
        provider.hold.set()
        mid_send = pair.reply("mid-send", 10)
        wait_for(lambda: ("a", mid_send) in provider.waiting, what="a sending")
        crash(pair.a)
        died = time.monotonic()
        provider.hold.clear()
        during = [pair.reply("during", n) for n in range(20, 25)]
        wait_for(lambda: "b" in provider.pollers_since(died), timeout=TAKEOVER_MAX + 5, what="b polling")
        assert time.monotonic() - died <= TAKEOVER_MAX
        wait_for(lambda: provider.sent_ids() == sorted(before + [mid_send] + during), timeout=TAKEOVER_MAX,
                 what="every reply sent")
        time.sleep(1)
        assert provider.sent_ids() == sorted(before + [mid_send] + during)  # each exactly once
        assert {who for who, mid in provider.sends if mid in during or mid == mid_send} == {"b"}
        assert holders(pair.b.app) == dict.fromkeys(jobs, b_id)
        assert provider.pollers_since(time.monotonic() - 1) == {"b"}
        with pair.b.app.db.read() as s:
            assert {s.get_one(Message, m).status for m in before + [mid_send] + during} == {"sent"}


def test_a_replica_starting_does_not_recover_a_reply_the_live_holder_is_sending(
        tmp_path: Path, postgres_db_url: str):
    provider = Provider()
    with two_replicas(tmp_path, postgres_db_url, provider) as pair:
        provider.hold.set()
        mid = pair.reply("in-flight", 1)
        wait_for(lambda: ("a", mid) in provider.waiting, what="a sending")
        pair.start_b()
        time.sleep(3)  # B's start and first heartbeats: it must leave A's send alone
        provider.hold.clear()
        wait_for(lambda: provider.sends, what="the send finishing")
        time.sleep(1.5)
        assert provider.sends == [("a", mid)]
        with pair.b.app.db.read() as s:
            assert s.get_one(Message, mid).status == "sent"


def test_a_clean_stop_hands_its_jobs_over_at_once(tmp_path: Path, postgres_db_url: str):
    provider = Provider()
    with two_replicas(tmp_path, postgres_db_url, provider) as pair:
        pair.start_b()
        a_id = pair.a.runtime.leases.holder
        wait_for(lambda: len(held := holders(pair.a.app)) == 5 and set(held.values()) == {a_id},
                 what="a holding every job")
        pair.threads.pop("a").stop()
        stopped = time.monotonic()
        wait_for(lambda: "b" in provider.pollers_since(stopped), timeout=5, what="b polling")
        assert time.monotonic() - stopped < 4  # released, not expired (TTL 6 s)
