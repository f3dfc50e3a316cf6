"""Webhooks at the real agent server: signed ones are stored and acknowledged only after
the commit; a missing or wrong signature gets 403 and stores nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tray_agent.sandbox.webhooks import meta_signature
from tests.channels.live import CUSTOMER, Live


def twilio_form(live: Live, sid: str, text: str) -> list[tuple[str, str]]:
    c = live.sandbox.creds
    return [("MessageSid", sid), ("SmsSid", sid), ("AccountSid", c.twilio_account_sid), ("From", CUSTOMER),
            ("To", c.sms_number), ("Body", text), ("NumMedia", "0"), ("SmsStatus", "received")]


def post_twilio(live: Live, form: list[tuple[str, str]], signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return httpx.post(live.hook(live.sms, "inbound"), content=urlencode(form), headers=headers)


def whatsapp_body(live: Live, wamid: str, text: str) -> bytes:
    c = live.sandbox.creds
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": c.waba_id, "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"display_phone_number": "14155550101",
                                                          "phone_number_id": c.phone_number_id},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "14155550123"}],
            "messages": [{"from": "14155550123", "id": wamid, "timestamp": "1773133200", "type": "text",
                          "text": {"body": text}}]}}]}]}).encode()


def test_twilio_webhook_signed_by_the_official_validator_is_stored_then_answered_with_twiml(live: Live) -> None:
    form = twilio_form(live, "SM" + "1" * 32, "Signed by twilio's own validator")
    sig = RequestValidator(live.sandbox.creds.twilio_auth_token).compute_signature(
        live.hook(live.sms, "inbound"), dict(form))
    r = post_twilio(live, form, sig)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/xml") and r.text == "<Response/>"
    conv = live.conversation(live.sms)  # committed before the answer: no waiting needed
    assert [m.text for m in live.messages(conv.id)] == ["Signed by twilio's own validator"]


@pytest.mark.parametrize("how", ["missing", "wrong token", "other url", "tampered body"])
def test_twilio_webhook_without_a_valid_signature_is_403_and_stores_nothing(live: Live, how: str) -> None:
    form = twilio_form(live, "SM" + "2" * 32, "forged")
    token, url = live.sandbox.creds.twilio_auth_token, live.hook(live.sms, "inbound")
    sig = {"missing": None,
           "wrong token": RequestValidator("f" * 32).compute_signature(url, dict(form)),
           "other url": RequestValidator(token).compute_signature(url + "x", dict(form)),
           "tampered body": RequestValidator(token).compute_signature(url, dict(form[:-1]))}[how]
    r = post_twilio(live, form, sig)
    assert r.status_code == 403
    assert live.conversations(live.sms) == [] and live.stored() == 0


def test_twilio_webhook_signed_for_another_installs_url_is_refused_when_replayed_here(live: Live) -> None:
    """A genuine request for another install (same path, same token) replayed at us with
    that install's Host header: the signature matches the URL rebuilt from Host, not ours."""
    form = twilio_form(live, "SM" + "3" * 32, "replayed from elsewhere")
    elsewhere = "https://other-install.example.com"
    path = live.hook(live.sms, "inbound").removeprefix(live.url)
    sig = RequestValidator(live.sandbox.creds.twilio_auth_token).compute_signature(elsewhere + path, dict(form))
    for host in ("other-install.example.com", "other-install.example.com:443"):
        r = httpx.post(live.hook(live.sms, "inbound"), content=urlencode(form), headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig, "Host": host,
            "X-Forwarded-Proto": "https"})
        assert r.status_code == 403, host
    assert live.conversations(live.sms) == [] and live.stored() == 0


def test_twilio_webhook_is_checked_against_the_configured_public_url_only(
        monkeypatch: pytest.MonkeyPatch, start_live: Callable[[], Live]) -> None:
    """Behind a tunnel Twilio signs `[api] public_url`; the loopback address it reaches us
    on (and any Host a proxy passes) is not a URL Twilio was given."""
    monkeypatch.setenv("TRAY_AGENT_API_PUBLIC_URL", "https://agent.example.com/")
    live = start_live()
    token, hook = live.sandbox.creds.twilio_auth_token, live.hook(live.sms, "inbound")
    path = hook.removeprefix(live.url)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    local = twilio_form(live, "SM" + "4" * 32, "signed for the loopback address")
    r = httpx.post(hook, content=urlencode(local), headers={
        **headers, "X-Twilio-Signature": RequestValidator(token).compute_signature(hook, dict(local))})
    assert r.status_code == 403

    public = twilio_form(live, "SM" + "5" * 32, "signed for our public URL")
    sig = RequestValidator(token).compute_signature("https://agent.example.com" + path, dict(public))
    r = httpx.post(hook, content=urlencode(public), headers={**headers, "X-Twilio-Signature": sig})
    assert r.status_code == 200 and r.text == "<Response/>"
    conv = live.conversation(live.sms)
    assert [m.text for m in live.messages(conv.id)] == ["signed for our public URL"]


def test_whatsapp_notification_signed_over_its_raw_bytes_is_stored(live: Live) -> None:
    body = whatsapp_body(live, "wamid.OK1", "Olá, tudo bem?")
    r = httpx.post(live.hook(live.wa, "events"), content=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(live.sandbox.creds.meta_app_secret, body)})
    assert r.status_code == 200
    conv = live.conversation(live.wa)
    assert (conv.customer_name, [m.text for m in live.messages(conv.id)]) == ("Ana", ["Olá, tudo bem?"])


@pytest.mark.parametrize("header", [None, "sha256=" + "0" * 64, "wrong secret"])
def test_whatsapp_notification_without_a_valid_signature_is_403_and_stores_nothing(live: Live, header: str | None) -> None:
    body = whatsapp_body(live, "wamid.BAD", "forged")
    headers = {"Content-Type": "application/json"}
    if header == "wrong secret":
        headers["X-Hub-Signature-256"] = meta_signature("not-the-app-secret", body)
    elif header is not None:
        headers["X-Hub-Signature-256"] = header
    r = httpx.post(live.hook(live.wa, "events"), content=body, headers=headers)
    assert r.status_code == 403
    assert live.conversations(live.wa) == [] and live.stored() == 0


def test_webhooks_of_unknown_channels_or_paths_are_404(live: Live) -> None:
    assert httpx.post(f"{live.url}/webhooks/999/inbound", content=b"x").status_code == 404
    assert httpx.post(live.hook(live.sms, "nope"), content=b"x").status_code == 404


def test_plugins_see_each_message_that_webhooks_committed_together(live: Live) -> None:
    from tray_agent.hookspecs import hookimpl

    seen: list[tuple[str, int | None]] = []

    class Listener:
        @hookimpl
        def inbox_event(self, event, inbox):  # type: ignore[no-untyped-def]
            seen.append((event.type, event.conversation_id))

    live.app.plugins.register(Listener(), name="listener")
    for i in range(3):
        live.admin.customer_sends("whatsapp", f"+1415555{2000 + i}", f"hello {i}")
    live.app.flush_events()
    created = [c for t, c in seen if t == "message.created"]
    assert len(created) == 3 and None not in created
    assert sorted(c for t, c in seen if t == "conversation.created") == sorted(created)
