"""Meta's webhook rules at the WhatsApp channel's endpoint, over real HTTP: the GET
verification handshake, and X-Hub-Signature-256 over the raw body bytes."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import pytest

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.sandbox.webhooks import meta_signature
from tray_agent.testing import AgentUnderTest, WebhookRequest
from whatsapp_harness import add_whatsapp_channel, signed, text_message


@pytest.fixture
def agent(agent_under_test: Callable[..., AgentUnderTest]) -> AgentUnderTest:
    return agent_under_test(["whatsapp"])


@pytest.fixture
def wa(agent: AgentUnderTest, sandbox: Sandbox) -> int:
    cid = add_whatsapp_channel(agent, sandbox)
    agent.start_channels()
    return cid


def test_protocols_hmac_vector() -> None:
    assert hmac.new(b"secret", b"test", hashlib.sha256).hexdigest() == \
        "0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
    assert meta_signature("secret", b"test") == "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"


def test_handshake_echoes_the_challenge_as_plain_text(agent: AgentUnderTest, wa: int, sandbox: Sandbox) -> None:
    query = f"hub.mode=subscribe&hub.verify_token={sandbox.creds.meta_verify_token}&hub.challenge=1158201444"
    r = agent.post(wa, WebhookRequest("events", method="GET", query=query))
    assert r.status_code == 200 and r.text == "1158201444"
    assert r.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("query", [
    "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
    "hub.mode=unsubscribe&hub.verify_token={token}&hub.challenge=1",
    "hub.challenge=1",
])
def test_handshake_with_a_wrong_token_or_mode_is_refused(agent: AgentUnderTest, wa: int, sandbox: Sandbox,
                                                          query: str) -> None:
    r = agent.post(wa, WebhookRequest("events", method="GET", query=query.format(token=sandbox.creds.meta_verify_token)))
    assert r.status_code == 403


def test_sandbox_registration_performs_the_handshake(agent: AgentUnderTest, wa: int, admin: SandboxAdmin,
                                                     sandbox: Sandbox) -> None:
    out = admin.register_whatsapp(sandbox.creds.phone_number_id, agent.webhook_url(wa, "events"))
    assert out["verified"] is True


def test_signature_covers_the_raw_bytes_not_reserialised_json(agent: AgentUnderTest, wa: int, sandbox: Sandbox) -> None:
    # Meta escapes non-ASCII as \uXXXX: the same JSON re-serialised has other bytes.
    payload = text_message(sandbox, "wamid.raw1", "+14155550123", "Grüße, ça va? ✓")
    raw = json.dumps(payload, ensure_ascii=True).encode()
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    forged = WebhookRequest("events", reserialised, {"Content-Type": "application/json",
                                                    "X-Hub-Signature-256": meta_signature(sandbox.creds.meta_app_secret, raw)})
    assert agent.post(wa, forged).status_code == 403
    assert agent.conversations(wa) == []
    assert agent.post(wa, signed(sandbox, raw)).status_code == 200
    [conv] = agent.conversations(wa)
    assert [m.text for m in agent.messages(conv.id)] == ["Grüße, ça va? ✓"]
    assert conv.customer_name == "Sam"


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha1=abcd", "sha256=" + "0" * 64])
def test_missing_or_wrong_signature_is_refused_and_nothing_is_stored(agent: AgentUnderTest, wa: int, sandbox: Sandbox,
                                                                     header: str | None) -> None:
    req = signed(sandbox, text_message(sandbox, "wamid.forged", "+14155550123", "forged"))
    r = agent.post(wa, req.with_headers(**{"X-Hub-Signature-256": header}))
    assert r.status_code == 403
    assert agent.conversations(wa) == []


def test_other_message_types_are_stored_as_plain_text(agent: AgentUnderTest, wa: int, sandbox: Sandbox) -> None:
    wa_id = "14155550123"
    msgs = [
        {"type": "location", "location": {"latitude": 52.52, "longitude": 13.4, "name": "<b>Shop</b>"}},
        {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "y", "title": "Yes"}}},
        {"type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": "👍"}},
        {"type": "unsupported"},
    ]
    for i, m in enumerate(msgs):
        item = {"from": wa_id, "id": f"wamid.t{i}", "timestamp": str(int(sandbox.state.now().timestamp())), **m}
        payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": sandbox.creds.phone_number_id},
            "messages": [item]}}]}]}
        assert agent.post(wa, signed(sandbox, payload)).status_code == 200
    [conv] = agent.conversations(wa)
    texts = [m.text for m in agent.messages(conv.id)]
    assert texts == ["Location: <b>Shop</b> (52.52, 13.4)", "Yes", "Reacted 👍 to a message",
                     "[A message of type unsupported that this inbox cannot show]"]
