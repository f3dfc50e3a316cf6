"""Every agent action over HTTP, and every refusal: 404 unknown ids, 422 bad input, 409
channel-rule violations (WhatsApp's closed reply window with its closing time), 403."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tray_agent.core.errors import ProviderError
from tests.api.live import START


def _conv(agent, address: str, text: str = "hello", channel=None) -> int:  # type: ignore[no-untyped-def]
    return agent.conversation_of(agent.inbound(channel or agent.sms, address, text))


def _wait_status(agent, conv: int, message_id: int, status: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        page = agent.inbox.history(agent.me.id, conv)
        if next(m for m in page.items if m.id == message_id).status == status:
            return
        time.sleep(0.02)
    raise AssertionError(f"message {message_id} never became {status}")


def test_reply_with_text_queues_it_and_the_outbox_sends_it(agent, client):
    conv = _conv(agent, "+14155559001")
    r = client.post(f"/api/conversations/{conv}/messages", json={"text": "On its way"})
    assert r.status_code == 201
    m = r.json()
    assert m["direction"] == "out" and m["status"] == "queued" and m["sender_name"] == "Alex Agent"
    _wait_status(agent, conv, m["id"], "sent")
    assert agent.fake.adapters[agent.sms.id].sent[-1].text == "On its way"
    # Replying took the queued conversation over.
    assert client.get(f"/api/conversations/{conv}").json()["assigned_agent_id"] == agent.me.id


def test_a_reply_outside_the_whatsapp_window_is_refused_with_the_closing_time(agent, client):
    conv = _conv(agent, "+14155559002", channel=agent.wa)
    agent.clock.advance(timedelta(hours=25))
    try:
        r = client.post(f"/api/conversations/{conv}/messages", json={"text": "too late"})
        assert r.status_code == 409
        assert r.json() == {"error": "reply_window_closed", "closed_at": "2026-03-11T09:00:00+00:00",
                            "message": "The reply window closed at 2026-03-11 09:00 UTC; free-form replies "
                                       "are refused until the customer writes again."}
        d = client.get(f"/api/conversations/{conv}").json()["composer"]
        assert d["can_reply"] is False and "2026-03-11 09:00 UTC" in d["reason"]
    finally:
        agent.clock.set(START)


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": "   "}, {"text": "x", "bogus": 1},
                                  {"text": 5}, {"uploads": "nope"}, {"text": "x" * 1601}])
def test_bad_replies_are_422(agent, client, body):
    conv = _conv(agent, "+14155559003")
    r = client.post(f"/api/conversations/{conv}/messages", json=body)
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"


def test_a_reply_in_a_closed_conversation_is_a_rule_violation(agent, client):
    conv = _conv(agent, "+14155559004")
    assert client.post(f"/api/conversations/{conv}/close").json()["status"] == "closed"
    r = client.post(f"/api/conversations/{conv}/messages", json={"text": "hello?"})
    assert r.status_code == 409 and r.json() == {"error": "rule_violation",
                                                 "message": "This conversation is closed; reopen it to reply."}


def test_starting_a_conversation_only_where_the_channel_allows_it(agent, client):
    r = client.post("/api/conversations", json={"channel_id": agent.sms.id, "customer_address": "+1 415 555 9005",
                                                "text": "Hello from the shop"})
    assert r.status_code == 201
    body = r.json()
    assert body["conversation"]["customer_address"] == "+14155559005" and body["message"]["text"] == "Hello from the shop"
    wa = client.post("/api/conversations", json={"channel_id": agent.wa.id, "customer_address": "+14155559006",
                                                 "text": "hi"})
    assert wa.status_code == 409
    assert wa.json()["message"] == "Fake WhatsApp conversations can only be started by the customer."
    bad = client.post("/api/conversations", json={"channel_id": agent.sms.id, "customer_address": "12", "text": "x"})
    assert bad.status_code == 422 and bad.json()["message"] == (
        "'12' is not a phone number; use the international format, e.g. +14155550123.")
    assert client.post("/api/conversations", json={"channel_id": 999, "customer_address": "+14155559006",
                                                   "text": "x"}).status_code == 404
    assert client.post("/api/conversations", json={"customer_address": "+1"}).status_code == 422


def test_claim_and_the_loser_of_a_race_is_told_who_won(agent, client):
    conv = _conv(agent, "+14155559007")
    agent.inbox.claim(agent.bea.id, conv)
    r = client.post(f"/api/conversations/{conv}/claim")
    assert r.status_code == 409
    assert r.json() == {"error": "conflict", "message": "Bea Colleague has already taken over this conversation.",
                        "owner_id": agent.bea.id}
    mine = _conv(agent, "+14155559008")
    assert client.post(f"/api/conversations/{mine}/claim").json()["assigned_agent_id"] == agent.me.id


def test_transfer_to_a_colleague_or_a_queue_with_a_note(agent, client):
    conv = _conv(agent, "+14155559009")
    client.post(f"/api/conversations/{conv}/claim")
    r = client.post(f"/api/conversations/{conv}/transfer", json={"to_queue_id": agent.queue.id, "note": "billing"})
    assert r.status_code == 200 and r.json()["queue_name"] == "Sales" and r.json()["assigned_agent_id"] is None
    r = client.post(f"/api/conversations/{conv}/transfer", json={"to_agent_id": agent.bea.id, "note": "VIP"})
    assert r.json()["assigned_agent_name"] == "Bea Colleague"
    texts = [m.text for m in agent.inbox.history(agent.bea.id, conv).items]
    assert texts[-2:] == ["Alex Agent transferred this conversation to Sales: billing",
                          "Alex Agent transferred this conversation to Bea Colleague: VIP"]
    # It left my inbox.
    assert client.get(f"/api/conversations/{conv}").status_code == 404


def test_transfer_refusals(agent, client):
    conv = _conv(agent, "+14155559010")
    both = client.post(f"/api/conversations/{conv}/transfer", json={"to_agent_id": agent.bea.id, "to_queue_id": 1})
    assert both.status_code == 422 and both.json()["message"] == "Transfer to either a colleague or a queue."
    assert client.post(f"/api/conversations/{conv}/transfer", json={}).status_code == 422
    assert client.post(f"/api/conversations/{conv}/transfer", json={"to_agent_id": 999}).status_code == 404
    assert client.post(f"/api/conversations/{conv}/transfer", json={"to_queue_id": 999}).status_code == 404
    assert client.post(f"/api/conversations/{conv}/transfer", json={"to_agent_id": agent.me.id}).status_code == 422
    assert client.post(f"/api/conversations/{conv}/transfer", json={"note": "x" * 2001,
                                                                    "to_queue_id": 1}).status_code == 422


def test_archive_unarchive_close_reopen_read_unread(agent, client):
    conv = _conv(agent, "+14155559011")
    post = lambda what: client.post(f"/api/conversations/{conv}/{what}").json()
    assert post("archive")["archived"] is True
    assert post("unarchive")["archived"] is False
    assert post("close")["status"] == "closed"
    assert post("reopen")["status"] == "open"
    assert post("read")["unread"] is False
    assert post("unread")["unread"] is True


def test_reopen_is_refused_while_a_newer_conversation_is_open(agent, client):
    conv = _conv(agent, "+14155559012")
    client.post(f"/api/conversations/{conv}/close")
    newer = _conv(agent, "+14155559012", "again")
    r = client.post(f"/api/conversations/{conv}/reopen")
    assert r.status_code == 409 and r.json()["conversation_id"] == newer


@pytest.mark.parametrize("what", ["claim", "archive", "unarchive", "close", "reopen", "read", "unread", "call"])
def test_actions_on_an_unknown_conversation_are_404(client, what):
    r = client.post(f"/api/conversations/999999/{what}")
    assert r.status_code == 404 and r.json()["message"] == "There is no conversation 999999 in your inbox."


def test_call_is_placed_through_the_handler_and_recorded(agent, client):
    conv = _conv(agent, "+14155559013")
    r = client.post(f"/api/conversations/{conv}/call", json={})
    assert r.status_code == 200
    assert r.json()["handler"] == "tel" and r.json()["message"]["kind"] == "call"
    assert r.json()["detail"] == "Call to +14155559013: Opened tel:+14155559013 with the system's call handler"
    assert client.post(f"/api/conversations/{conv}/call", json={"handler": "pbx"}).status_code == 404


def test_save_contact_new_then_add_a_number_and_refusals(agent, client):
    one = _conv(agent, "+14155559014")
    two = _conv(agent, "+14155559015", channel=agent.wa)
    c = client.post(f"/api/conversations/{one}/contact", json={"name": "Nina Contact"}).json()
    assert c["display_name"] == "Nina Contact" and c["points"] == [{"kind": "phone", "address": "+14155559014"}]
    c2 = client.post(f"/api/conversations/{two}/contact", json={"contact_id": c["id"]}).json()
    assert {p["address"] for p in c2["points"]} == {"+14155559014", "+14155559015"}
    assert client.get("/api/contacts", params={"q": "nina"}).json()[0]["id"] == c["id"]
    assert client.post(f"/api/conversations/{one}/contact", json={"contact_id": 99999}).status_code == 404
    other = client.post(f"/api/conversations/{_conv(agent, '+14155559016')}/contact", json={"name": "Other"}).json()
    clash = client.post(f"/api/conversations/{one}/contact", json={"contact_id": other["id"]})
    assert clash.status_code == 409 and "already belongs to the contact 'Nina Contact'" in clash.json()["message"]
    assert client.post(f"/api/conversations/{one}/contact", json={"name": "x" * 201}).status_code == 422


def test_retry_sends_a_failed_message_again_and_refusals(agent, client):
    conv = _conv(agent, "+14155559017")
    agent.fake.adapters[agent.sms.id].failures.append(ProviderError("carrier down", retryable=False))
    m = client.post(f"/api/conversations/{conv}/messages", json={"text": "try me"}).json()
    _wait_status(agent, conv, m["id"], "failed")
    failed = client.get(f"/api/conversations/{conv}/messages/{m['id']}").json()
    assert failed["status_reason"] == "carrier down" and failed["can_retry"] is True
    r = client.post(f"/api/messages/{m['id']}/retry")
    assert r.status_code == 200 and r.json()["status"] == "queued"
    _wait_status(agent, conv, m["id"], "sent")
    again = client.post(f"/api/messages/{m['id']}/retry")
    assert again.status_code == 422 and again.json()["message"] == "Only a failed message can be sent again."
    assert client.post("/api/messages/999999/retry").status_code == 404


def test_a_message_refused_by_a_channel_rule_cannot_be_retried(agent, client):
    conv = _conv(agent, "+14155559018", channel=agent.wa)
    agent.fake.adapters[agent.wa.id].failures.append(ProviderError(
        "Re-engagement message (131047)", retryable=False, provider_code=131047, permanent_rule=True))
    m = client.post(f"/api/conversations/{conv}/messages", json={"text": "hi"}).json()
    _wait_status(agent, conv, m["id"], "failed")
    assert client.get(f"/api/conversations/{conv}/messages/{m['id']}").json()["can_retry"] is False
    r = client.post(f"/api/messages/{m['id']}/retry")
    assert r.status_code == 409 and r.json()["message"] == "Re-engagement message (131047)"
