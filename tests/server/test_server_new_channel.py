"""A channel added while the team server runs (the admin view, the console, another replica)
takes messages without a restart: its adapter starts within seconds, and a reply written at
once after the channel was added is sent, not failed as "not running"."""

from __future__ import annotations

import time
import uuid

from tests.server.live import Team, wait_for
from tray_agent.channels import InboundMessage
from tray_agent.core.models import Message


def test_a_channel_added_while_the_server_runs_sends_a_reply_at_once(team: Team):
    ch = team.inbox.add_channel("fake-sms", f"New SMS {uuid.uuid4().hex[:6]}", "+14155550777")
    team.inbox.update_channel(ch.id, route_queue_id=team.queue.id)
    mid = team.inbox.receive(ch.id, InboundMessage(f"new-{time.monotonic_ns()}", "+14155557777", "hello there"))
    with team.app.db.read() as s:
        cid = s.get_one(Message, mid).conversation_id
    with team.http("Alice") as c:  # no pause: the outbox may get the reply before the channel's pass
        r = c.post(f"/sync/v1/conversations/{cid}/reply", json={"text": "welcome"},
                   headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    wait_for(lambda: [m.text for m in getattr(team.fake.adapters.get(ch.id), "sent", [])] == ["welcome"], timeout=20,
             what="the reply sent by the new channel's adapter")
    # Its webhook routes are served too, as the running server's own.
    wait_for(lambda: ch.id in team.thread.server.runtime.routes, what="the new channel's webhook routes")
