"""Customers without a phone number: a WhatsApp user known only by a business-scoped user
id (username), and an SMS sender id such as ``MyBank``. Stored, shown, tied to a contact,
and replied to where the channel can — or the composer says why not."""

from __future__ import annotations

import json
import re

import httpx

from tray_agent.sandbox.webhooks import meta_signature
from tests.channels.live import Live, wait_for

BSUID = "US.13491208655302741918"


def api(live: Live) -> httpx.Client:
    return httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {live.server.token}"}, timeout=15)


def test_a_whatsapp_customer_known_only_by_username_is_stored_shown_and_replied_to(live: Live) -> None:
    out = live.admin.customer_sends("whatsapp", "@jane", "Hi, I hide my number")
    assert [d["status"] for d in out["deliveries"]] == [200]
    conv = live.conversation(live.wa)
    assert re.fullmatch(r"US\.[0-9]+", conv.customer_address)
    assert conv.customer_display == f"{conv.customer_address} (WhatsApp user ID)"
    with api(live) as http:
        detail = http.get(f"/api/conversations/{conv.id}").json()
        assert detail["composer"]["can_reply"] is True
        r = http.post(f"/api/conversations/{conv.id}/messages", json={"text": "Hello Jane"})
        assert r.status_code == 201, r.text
        live.wait_status(r.json()["id"], "delivered", "read")
        [sent] = live.admin.outbound("whatsapp")
        assert (sent["customer"], sent["text"]) == (conv.customer_address, "Hello Jane")
        contact = http.post(f"/api/conversations/{conv.id}/contact", json={"name": "Jane"}).json()
        assert contact["points"] == [{"kind": "user_id", "address": conv.customer_address}]
        assert http.post(f"/api/conversations/{conv.id}/call", json={}).status_code == 409  # no number to call
    [m] = [m for m in live.messages(conv.id) if m.direction == "in"]
    assert m.meta["username"] == "jane" and m.meta["user_id"] == conv.customer_address


def test_a_notification_in_the_bsuid_shape_without_any_phone_number_is_stored(live: Live) -> None:
    c = live.sandbox.creds
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": c.waba_id, "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"display_phone_number": "14155550101",
                                                          "phone_number_id": c.phone_number_id},
            "contacts": [{"profile": {"name": "", "username": "sheena"}, "user_id": BSUID}],
            "messages": [{"from_user_id": BSUID, "id": "wamid.BSUID1", "timestamp": "1773133200", "type": "text",
                          "text": {"body": "only my user id"}}]}}]}]}).encode()
    r = httpx.post(live.hook(live.wa, "events"), content=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(c.meta_app_secret, body)})
    assert r.status_code == 200
    conv = live.conversation(live.wa)
    assert (conv.customer_address, conv.customer_name) == (BSUID, "@sheena")
    assert [m.text for m in live.messages(conv.id)] == ["only my user id"]


def test_a_phone_customer_keeps_one_conversation_now_that_notifications_carry_user_ids(live: Live) -> None:
    live.admin.customer_sends("whatsapp", "+14155550123", "first")
    live.admin.customer_sends("whatsapp", "+14155550123", "second")
    conv = live.conversation(live.wa)
    assert conv.customer_address == "+14155550123" and conv.customer_display == "+1 415-555-0123"
    assert [m.text for m in live.messages(conv.id)] == ["first", "second"]


def test_an_sms_from_an_alphanumeric_sender_is_stored_and_cannot_be_replied_to(live: Live) -> None:
    out = live.admin.customer_sends("sms", "MyBank", "Your code is 123456")
    assert [d["status"] for d in out["deliveries"]] == [200]
    conv = live.conversation(live.sms)
    assert (conv.customer_address, conv.customer_display) == ("MyBank", "MyBank (sender ID)")
    with api(live) as http:
        composer = http.get(f"/api/conversations/{conv.id}").json()["composer"]
        assert composer["can_reply"] is False and "sender ID" in composer["reason"]
        r = http.post(f"/api/conversations/{conv.id}/messages", json={"text": "thanks"})
        assert r.status_code == 409 and r.json()["error"] == "rule_violation"
        start = http.post("/api/conversations", json={"channel_id": live.sms, "customer_address": "MyBank", "text": "hi"})
        assert start.status_code == 409 and "sender ID" in start.json()["message"]
        contact = http.post(f"/api/conversations/{conv.id}/contact", json={"name": "My Bank"}).json()
        assert contact["points"] == [{"kind": "sender_id", "address": "MyBank"}]
    assert live.admin.outbound("sms") == []  # refused before the outbox, never failed at send
    wait_for(lambda: live.app.inbox.outbox_next_due_at() is None, what="an empty outbox")
