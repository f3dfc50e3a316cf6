"""A channel routed to an agent (the admin API's PATCH, or ``server channel set --route-agent``
from the console while the server runs): a customer's message lands assigned to that agent,
seen by them and the administrators only — 404 for the members of another queue."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from sqlalchemy import select
from sqlmodel import col

from tests.server.live import Team, second_replica
from tray_agent.channels import InboundMessage
from tray_agent.core.base import CHANNEL_FRESH_FOR
from tray_agent.core.models import Conversation, Message

pytestmark = pytest.mark.slow


def arrives(team: Team, channel_id: int, *, batch: bool) -> int:
    """A customer's message as the channel's webhook stores it (``batch``: the group commit's
    statement) or as a poller does; its conversation."""
    m = InboundMessage(f"rt-{uuid.uuid4().hex}", f"+1628555{time.monotonic_ns() % 10000:04d}", "for my agent")
    if batch:
        assert team.inbox.receive_batches({channel_id: [m]}) == 1
    else:
        team.inbox.receive(channel_id, m)
    with team.app.db.read() as s:
        return s.execute(select(col(Message.conversation_id)).where(
            col(Message.provider_message_id) == m.provider_message_id)).scalar_one()


def seen_by(team: Team, conv: int) -> dict[str, tuple[int, bool]]:
    """Per agent: the conversation's status code, and whether their snapshot lists it."""
    got = {}
    for who in ("Alice", "Bea", "Carl", "Ada"):
        with team.http(who) as c:
            one = c.get(f"/sync/v1/conversations/{conv}").status_code
            listed = conv in [x["id"] for x in c.get("/sync/v1/snapshot", params={"limit": 1000, "messages": 0})
                              .json()["conversations"]]
        got[who] = (one, listed)
    return got


ONLY_CARL_AND_ADMINS = {"Alice": (404, False), "Bea": (404, False), "Carl": (200, True), "Ada": (200, True)}


def assert_lands_on_carl(team: Team, channel_id: int) -> None:
    carl = team.agents["Carl"].id
    for batch in (False, True):
        conv = arrives(team, channel_id, batch=batch)
        with team.app.db.read() as s:
            row = s.get_one(Conversation, conv)
            assert (row.assigned_agent_id, row.queue_id) == (carl, None)
        assert seen_by(team, conv) == ONLY_CARL_AND_ADMINS


def test_a_channel_routed_to_an_agent_by_the_admin_api_gives_them_its_customers(team: Team):
    ch = team.inbox.add_channel("fake-sms", "Carl's line", "+14155550120")
    with team.http("Ada") as ada:
        r = ada.patch(f"/sync/v1/admin/channels/{ch.id}", json={"route_agent_id": team.agents["Carl"].id})
    assert r.status_code == 200, r.text
    assert (r.json()["route_agent_id"], r.json()["route_queue_id"]) == (team.agents["Carl"].id, None)
    assert_lands_on_carl(team, ch.id)


def test_a_channel_routed_to_an_agent_from_the_console_while_the_server_runs(team: Team, module_db: str,
                                                                           tmp_path: Path):
    ch = team.inbox.add_channel("fake-sms", "Carl's other line", "+14155550121")
    arrives(team, ch.id, batch=False)  # the running server has this channel's route (none) in hand
    env = {**os.environ, "TRAY_AGENT_HOME": str(tmp_path / "console")}
    env.pop("TRAY_AGENT_SERVER_DATABASE", None)
    out = subprocess.run([sys.executable, "-m", "tray_agent", "server", "--database", module_db, "channel", "set",
                          str(ch.id), "--route-agent", str(team.agents["Carl"].id)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    # Nothing tells this process of another's change to a channel: its cached copy is read
    # again once it is CHANNEL_FRESH_FOR old (before, it was kept until the server restarted).
    time.sleep(CHANNEL_FRESH_FOR + 0.5)
    assert_lands_on_carl(team, ch.id)


def test_a_route_changed_through_one_replica_applies_on_the_other(team: Team, module_db: str, tmp_path: Path):
    """The administrator's PATCH reached replica A; a webhook reaches replica B, which had
    the channel in hand before the change."""
    ch = team.inbox.add_channel("fake-sms", "Carl's third line", "+14155550122")
    with second_replica(team, module_db, tmp_path / "replica-b") as b:
        b_team = replace(team, app=b.server.app)  # the same agents and clock; B's inbox stores
        arrives(b_team, ch.id, batch=True)  # B reads the channel (no route) and keeps it
        with team.http("Ada") as ada:
            assert ada.patch(f"/sync/v1/admin/channels/{ch.id}",
                             json={"route_agent_id": team.agents["Carl"].id}).status_code == 200
        time.sleep(CHANNEL_FRESH_FOR + 0.5)
        assert_lands_on_carl(b_team, ch.id)
