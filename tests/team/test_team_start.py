"""Starting a conversation from a team desktop: from the business number where the channel
lets the business start (SMS, never WhatsApp), only on a channel that routes to the agent
or their queues; the server starts it once, and it is the agent's on every desktop."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from tray_agent.core.mirror import ECHO_BASE
from tray_agent.core.models import Conversation
from tests.server.live import Team
from tests.team.desktop import wait_for
from tests.team.proxy import Relay
from tests.team.test_team_upstream import relay  # noqa: F401  (the fixture)


def test_a_new_sms_conversation_from_a_team_desktop_is_mine_on_every_desktop_and_sent_once(
        team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    alice, alice_laptop, bea = desktops("Alice"), desktops("Alice"), desktops("Bea")
    for d in (alice, alice_laptop, bea):
        wait_for(lambda d=d: d.connection()["state"] == "online", what="the desktops online")
    with alice.http() as c:
        r = c.post("/api/conversations", json={"channel_id": team.sms.id, "customer_address": "+1 415 555 0987",
                                               "text": "Your order has shipped."})
    assert r.status_code == 201, r.text
    conv, msg = r.json()["conversation"], r.json()["message"]
    cid = conv["id"]
    assert conv["assigned_agent_id"] == team.agents["Alice"].id and msg["status"] == "queued"
    assert cid in alice.inbox_ids()  # in the cache at once: the window opens it without waiting
    wait_for(lambda: cid in alice_laptop.inbox_ids(), what="the conversation on Alice's other desktop")
    assert alice_laptop.get(f"/api/conversations/{cid}")["assigned_agent_id"] == team.agents["Alice"].id
    adapter = team.fake.adapters[team.sms.id]
    wait_for(lambda: [m for m in adapter.sent if m.customer_address == "+14155550987"], what="the first message sent")
    assert [m.text for m in adapter.sent if m.customer_address == "+14155550987"] == ["Your order has shipped."]
    with team.app.db.read() as s:
        assert s.get(Conversation, cid).started_by == "agent"  # type: ignore[union-attr]
    assert cid not in bea.inbox_ids()  # Alice's, not the queue's


def test_starting_needs_a_channel_that_reaches_me_and_lets_the_business_start(team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    wa = team.inbox.add_channel("fake-wa", "Support WhatsApp", "+14155550111")
    carl = desktops("Carl")  # in no queue: the SMS channel routes to the Support queue
    wait_for(lambda: carl.connection()["state"] == "online", what="Carl online")
    wait_for(lambda: wa.id in [ch["id"] for ch in carl.get("/api/channels")], what="the new channel on Carl's desktop")
    with carl.http() as c:
        refused = c.post("/api/conversations", json={"channel_id": team.sms.id, "customer_address": "+14155550988",
                                                     "text": "hi"})
        whatsapp = c.post("/api/conversations", json={"channel_id": wa.id, "customer_address": "+14155550988",
                                                      "text": "hi"})
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden", refused.text
    assert whatsapp.status_code == 409 and "started by the customer" in whatsapp.json()["message"], whatsapp.text
    assert not [m for a in team.fake.adapters.values() for m in a.sent if m.customer_address == "+14155550988"]
    assert carl.inbox_ids() == []
    # The sync API's action itself: a repeated key starts once.
    key = uuid.uuid4().hex
    with team.http("Bea") as b:
        first, again = (b.post("/sync/v1/conversations", headers={"Idempotency-Key": key},
                               json={"channel_id": team.sms.id, "customer_address": "+14155550989", "text": "hello"})
                        for _ in range(2))
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    wait_for(lambda: [m for m in team.fake.adapters[team.sms.id].sent if m.customer_address == "+14155550989"],
             what="the started conversation's message")
    assert len([m for m in team.fake.adapters[team.sms.id].sent if m.customer_address == "+14155550989"]) == 1


def test_a_conversation_started_with_a_file_carries_it_to_the_customer(team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    alice = desktops("Alice")
    wait_for(lambda: alice.connection()["state"] == "online", what="Alice online")
    with alice.http() as c:
        up = c.post("/api/uploads", params={"channel_id": team.sms.id}, content=b"%PDF-1.4 the terms",
                    headers={"X-File-Name": "terms.pdf", "Content-Type": "application/pdf"})
        assert up.status_code == 201, up.text
        r = c.post("/api/conversations", json={"channel_id": team.sms.id, "customer_address": "+14155550986",
                                               "text": "", "uploads": [up.json()["upload_id"]]})
    assert r.status_code == 201, r.text
    assert [a["file_name"] for a in r.json()["message"]["attachments"]] == ["terms.pdf"]
    adapter = team.fake.adapters[team.sms.id]
    sent = wait_for(lambda: [m for m in adapter.sent if m.customer_address == "+14155550986"], what="the file sent")
    assert len(sent) == 1 and Path(sent[0].files[0].path).read_bytes() == b"%PDF-1.4 the terms"
    assert list(alice.app.inbox.files.staging.iterdir()) == []  # the desktop's staged copy went with the upload


def test_a_conversation_started_offline_waits_in_the_outbox_and_is_started_once_on_reconnect(
        team: Team, desktops, relay: Relay) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    wa = team.inbox.add_channel("fake-wa", "Orders WhatsApp", "+14155550112")
    team.inbox.update_channel(wa.id, route_queue_id=team.queue.id)
    alice = desktops("Alice", relay.url)
    wait_for(lambda: wa.id in [ch["id"] for ch in alice.get("/api/channels")], what="the channels on Alice's desktop")
    relay.block()
    wait_for(lambda: alice.connection()["state"] == "offline", what="Alice's desktop noticing it is offline")
    with alice.http() as c:
        r = c.post("/api/conversations", json={"channel_id": team.sms.id, "customer_address": "+14155550990",
                                               "text": "Your parcel is ready."})
        assert r.status_code == 201, r.text
        local, first = r.json()["conversation"], r.json()["message"]
        refused = c.post("/api/conversations", json={"channel_id": wa.id, "customer_address": "+14155550991",
                                                     "text": "hello"}).json()
    assert local["id"] >= ECHO_BASE and first["status"] == "queued" and local["assigned_agent_id"] == team.agents["Alice"].id
    assert {local["id"], refused["conversation"]["id"]} <= set(alice.inbox_ids())  # shown at once, as pending
    assert alice.connection()["pending_replies"] == 2
    opened = [m["text"] for m in alice.get(f"/api/conversations/{local['id']}/messages")["items"]]
    assert opened == ["Your parcel is ready."]
    adapter = team.fake.adapters[team.sms.id]
    assert not [m for m in adapter.sent if m.customer_address == "+14155550990"]

    relay.unblock()
    wait_for(lambda: [m.text for m in adapter.sent if m.customer_address == "+14155550990"] == ["Your parcel is ready."],
             timeout=30, what="the first message sent")
    with team.app.db.read() as s:
        started = s.query(Conversation).filter(Conversation.customer_address == "+14155550990").one()
    assert started.assigned_agent_id == team.agents["Alice"].id and started.started_by == "agent"
    # The server's conversation took the local one's place, with the message in it.
    wait_for(lambda: started.id in alice.inbox_ids() and local["id"] not in alice.inbox_ids(),
             what="the server's conversation in place of the local one")
    assert [m["text"] for m in alice.get(f"/api/conversations/{started.id}/messages")["items"]] == ["Your parcel is ready."]
    # The channel's rule refused the other: it stays, failed, with the server's reason and no Retry.
    failed = wait_for(lambda: [m for m in alice.get(f"/api/conversations/{refused['conversation']['id']}/messages")
                               ["items"] if m["status"] == "failed"], timeout=30, what="the refused start")
    assert not failed[0]["can_retry"] and "started by the customer" in failed[0]["status_reason"]
    assert alice.connection()["pending"] == 0
    time.sleep(2.5)  # the sender's next pass: still sent once
    assert [m.text for m in adapter.sent if m.customer_address == "+14155550990"] == ["Your parcel is ready."]
