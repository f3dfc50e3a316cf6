"""WhatsApp's 24-hour reply window over the sync API: a reply to a customer who last wrote
more than 24 h ago (the server's clock) is refused with the stable ``reply_window_closed``
and the human message, and nothing is queued or sent."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlmodel import col

from tests.server.live import Team
from tray_agent.channels import InboundMessage
from tray_agent.core.models import Message, OutboxItem


def test_a_reply_after_the_whatsapp_window_closed_is_refused_and_nothing_is_sent(team: Team):
    wa = team.inbox.add_channel("fake-wa", "Support WhatsApp", "+14155550199")
    team.inbox.update_channel(wa.id, route_queue_id=team.queue.id)
    wrote_at = team.clock.now()
    mid = team.inbox.receive(wa.id, InboundMessage(uuid.uuid4().hex, "+14155557001", "can you help?"))
    with team.app.db.read() as s:
        conv = s.get_one(Message, mid).conversation_id
    with team.http("Alice") as alice:
        # Alice picks it up within the window and answers: her reply is activity, so the
        # conversation stays open (WhatsApp closes one after 24 h without activity) and it
        # is the reply window, not the automatic closure, that is at stake below.
        team.clock.advance(timedelta(hours=23))
        assert alice.post(f"/sync/v1/conversations/{conv}/claim",
                          headers={"Idempotency-Key": uuid.uuid4().hex}).status_code == 200
        assert alice.post(f"/sync/v1/conversations/{conv}/reply", json={"text": "Looking into it"},
                          headers={"Idempotency-Key": uuid.uuid4().hex}).status_code == 201
        team.clock.advance(timedelta(hours=2))
        r = alice.post(f"/sync/v1/conversations/{conv}/reply", json={"text": "Sorry for the wait"},
                       headers={"Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["error"] == "reply_window_closed"
        closes = wrote_at + timedelta(hours=24)
        assert body["message"] == (f"The reply window closed at {closes:%Y-%m-%d %H:%M} UTC; "
                                   "free-form replies are refused until the customer writes again.")
        assert body["closed_at"].startswith(closes.strftime("%Y-%m-%dT%H:%M"))
        assert "\n" not in body["message"]
        history = alice.get(f"/sync/v1/conversations/{conv}/messages").json()["items"]
        state = alice.get(f"/sync/v1/conversations/{conv}").json()
    assert [(m["direction"], m["text"]) for m in history if m["direction"] != "system"] == [
        ("in", "can you help?"), ("out", "Looking into it")]
    assert state["status"] == "open"
    with team.app.db.read() as s:
        refused = select(col(Message.id)).where(col(Message.conversation_id) == conv,
                                                col(Message.text) == "Sorry for the wait")
        assert s.execute(select(func.count()).select_from(refused.subquery())).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(OutboxItem).where(
            col(OutboxItem.message_id).in_(refused))).scalar_one() == 0
    adapter = team.fake.adapters.get(wa.id)
    assert adapter is None or "Sorry for the wait" not in [m.text for m in adapter.sent]
