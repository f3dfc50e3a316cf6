"""A refusal other than a colleague's take-over, on a team desktop: a reply queued offline while
the WhatsApp 24 h window closes (on the server's clock) is refused ``reply_window_closed``
when it reaches the server, and the local message shows that reason; nothing is sent."""

from __future__ import annotations

import time
from datetime import timedelta

from tray_agent.channels import InboundMessage
from tray_agent.core.mirror import ECHO_BASE
from tray_agent.core.models import Message
from tests.server.live import START, Team
from tests.team.desktop import wait_for
from tests.team.proxy import Relay
from tests.team.test_team_upstream import offline_in_a_conversation, relay, server_replies  # noqa: F401  (the fixture)


def _out(team: Team, cid: int) -> list[tuple[str | None, str | None]]:
    with team.app.db.read() as s:
        return [(m.status, m.status_reason) for m in s.query(Message).filter(Message.conversation_id == cid,
                                                                                  Message.direction == "out")]


def test_a_reply_queued_while_the_whatsapp_window_closes_shows_reply_window_closed(
        team: Team, desktops, relay: Relay) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    wa = team.inbox.add_channel("fake-wa", "Support WhatsApp", "+14155550199")
    team.inbox.update_channel(wa.id, route_queue_id=team.queue.id)
    mid = team.inbox.receive(wa.id, InboundMessage(f"wa-{time.monotonic_ns()}", "+14155557001", "my order?"))
    with team.app.db.read() as s:
        cid = s.get_one(Message, mid).conversation_id
    alice = desktops("Alice", relay.url)
    wait_for(lambda: cid in alice.inbox_ids(), what="the WhatsApp conversation in Alice's cache")
    # 23 h on, inside the window: Alice answers (the conversation stays active, not closed).
    team.clock.set(START + timedelta(hours=23))
    with alice.http() as c:
        assert c.post(f"/api/conversations/{cid}/messages", json={"text": "looking into it"}).status_code == 201
    wait_for(lambda: server_replies(team, cid) == ["looking into it"], timeout=30, what="the first reply upstream")
    # Sent by the server's outbox while the window is still open (a send after the clock
    # moves on would be refused by the same rule, which is not this test's case).
    wait_for(lambda: [m.text for m in getattr(team.fake.adapters.get(wa.id), "sent", [])] == ["looking into it"],
             timeout=30, what=lambda: f"the first reply sent to the customer (on the server: {_out(team, cid)})")
    relay.block()
    wait_for(lambda: alice.connection()["state"] == "offline", what="Alice's desktop offline")
    with alice.http() as c:
        r = c.post(f"/api/conversations/{cid}/messages", json={"text": "it ships tomorrow"})
        assert r.status_code == 201 and r.json()["status"] == "queued", r.text
        echo_id = r.json()["id"]
    assert echo_id >= ECHO_BASE
    # The customer's message is now 25 h old on the server's clock: the window has closed.
    team.clock.set(START + timedelta(hours=25))
    relay.unblock()
    failed = wait_for(lambda: [m for m in alice.get(f"/api/conversations/{cid}/messages")["items"]
                               if m["status"] == "failed"], timeout=40, what="the refusal on Alice's message")
    assert [m["text"] for m in failed] == ["it ships tomorrow"]
    assert failed[0]["error_code"] == "reply_window_closed"
    assert "reply window closed" in failed[0]["status_reason"]
    assert "09:00 UTC" in failed[0]["status_reason"]  # when it closed: 24 h after the customer wrote
    assert not failed[0]["can_retry"]
    assert alice.connection()["pending"] == 0
    assert server_replies(team, cid) == ["looking into it"]  # never sent, never lost: shown failed here


def test_a_reply_queued_while_a_colleague_closed_the_conversation_shows_conversation_closed(
        team: Team, desktops, relay: Relay) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    cid, alice = offline_in_a_conversation(team, desktops, relay, "Alice", "thanks, all sorted")
    with alice.http() as c:
        assert c.post(f"/api/conversations/{cid}/messages", json={"text": "glad to help"}).status_code == 201
    with team.http("Ada") as a:  # the administrator closes it meanwhile
        r = a.post(f"/sync/v1/conversations/{cid}/close", headers={"Idempotency-Key": f"close-{cid}"})
        assert r.status_code == 200, r.text
    relay.unblock()
    failed = wait_for(lambda: [m for m in alice.get(f"/api/conversations/{cid}/messages")["items"]
                               if m["status"] == "failed"], timeout=40, what="the refusal on Alice's message")
    assert [m["text"] for m in failed] == ["glad to help"]
    assert failed[0]["error_code"] == "conversation_closed" and failed[0]["status_reason"]
    assert not failed[0]["can_retry"]
    assert alice.connection()["pending"] == 0
    assert server_replies(team, cid) == []
    wait_for(lambda: alice.get(f"/api/conversations/{cid}")["status"] == "closed", what="closed in Alice's cache")
