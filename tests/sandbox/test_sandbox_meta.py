"""The sandbox speaks Meta's WhatsApp Cloud API: Bearer auth, sends answered with a wamid,
media upload → id → URL → authenticated download with per-type caps, the 24-hour rule in
both modes, the callback handshake, and notifications signed over their raw bytes."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import httpx
import pytest

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tests.sandbox.receiver import Receiver

WA_ID = "14155550123"


def graph(sandbox: Sandbox, path: str) -> str:
    return f"{sandbox.url}/{sandbox.creds.graph_version}/{path}"


def bearer(sandbox: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.creds.meta_access_token}"}


def send(sandbox: Sandbox, payload: dict) -> httpx.Response:  # type: ignore[type-arg]
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID, **payload}
    return httpx.post(graph(sandbox, f"{sandbox.creds.phone_number_id}/messages"), json=body, headers=bearer(sandbox))


def signed_by_meta(sandbox: Sandbox, request_body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(sandbox.creds.meta_app_secret.encode(), request_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


@pytest.fixture
def wired(sandbox: Sandbox, admin: SandboxAdmin, receiver: Receiver) -> Receiver:
    out = admin.register_whatsapp(sandbox.creds.phone_number_id, f"{receiver.url}/webhooks/2/events")
    assert out["verified"] is True
    receiver.requests.clear()
    return receiver


def test_requests_without_the_token_get_190(sandbox: Sandbox) -> None:
    r = httpx.post(graph(sandbox, f"{sandbox.creds.phone_number_id}/messages"), json={})
    assert r.status_code == 401 and r.json()["error"]["code"] == 190 and r.json()["error"]["type"] == "OAuthException"


def test_registering_a_callback_does_metas_handshake(sandbox: Sandbox, admin: SandboxAdmin, receiver: Receiver) -> None:
    out = admin.register_whatsapp(sandbox.creds.phone_number_id, f"{receiver.url}/hook")
    [get] = receiver.requests
    q = dict(httpx.URL(get.url).params)
    assert (get.method, q["hub.mode"], q["hub.verify_token"]) == ("GET", "subscribe", sandbox.creds.meta_verify_token)
    assert out["verified"] is True
    receiver.echo_challenge = False
    assert admin.register_whatsapp(sandbox.creds.phone_number_id, f"{receiver.url}/hook")["verified"] is False


def test_a_customer_message_is_a_signed_notification(sandbox: Sandbox, admin: SandboxAdmin, wired: Receiver) -> None:
    admin.customer_sends("whatsapp", "+" + WA_ID, "Olá ✓", name="Ana", files=[("doc.pdf", "application/pdf", b"%PDF")])
    [call] = wired.requests
    assert signed_by_meta(sandbox, call.body, call.headers["x-hub-signature-256"])
    assert b"\\u2713" in call.body  # non-ASCII escaped, as Meta sends it
    value = json.loads(call.body)["entry"][0]["changes"][0]["value"]
    assert value["metadata"]["phone_number_id"] == sandbox.creds.phone_number_id
    [contact] = value["contacts"]  # the current shape: a business-scoped user id for every customer
    assert contact["profile"] == {"name": "Ana"} and contact["wa_id"] == WA_ID
    assert re.fullmatch(r"[A-Z]{2}\.[0-9]+", contact["user_id"])
    [m] = value["messages"]
    assert m["from_user_id"] == contact["user_id"]
    assert (m["from"], m["type"], m["document"]["caption"], m["document"]["filename"]) == (WA_ID, "document", "Olá ✓", "doc.pdf")
    info = httpx.get(graph(sandbox, m["document"]["id"]), headers=bearer(sandbox)).json()
    assert info["mime_type"] == "application/pdf" and info["sha256"] == hashlib.sha256(b"%PDF").hexdigest()
    assert httpx.get(info["url"]).status_code == 401
    assert httpx.get(info["url"], headers=bearer(sandbox)).content == b"%PDF"


def test_replies_get_a_wamid_then_sent_delivered_read(sandbox: Sandbox, admin: SandboxAdmin, wired: Receiver) -> None:
    admin.customer_sends("whatsapp", "+" + WA_ID, "Hi")
    wired.requests.clear()
    r = send(sandbox, {"type": "text", "text": {"body": "Hello", "preview_url": False}})
    assert r.status_code == 200
    wamid = r.json()["messages"][0]["id"]
    [contact] = r.json()["contacts"]
    assert wamid.startswith("wamid.") and (contact["input"], contact["wa_id"]) == (WA_ID, WA_ID) and contact["user_id"]
    calls = wired.wait(3)
    statuses = [json.loads(c.body)["entry"][0]["changes"][0]["value"]["statuses"][0] for c in calls]
    assert [(s["id"], s["status"]) for s in statuses] == [(wamid, "sent"), (wamid, "delivered"), (wamid, "read")]
    assert all(signed_by_meta(sandbox, c.body, c.headers["x-hub-signature-256"]) for c in calls)


def test_media_upload_lookup_download_and_delete(sandbox: Sandbox) -> None:
    files = {"file": ("a.png", b"\x89PNG image", "image/png")}
    up = httpx.post(graph(sandbox, f"{sandbox.creds.phone_number_id}/media"), headers=bearer(sandbox),
                    data={"messaging_product": "whatsapp", "type": "image/png"}, files=files)
    media_id = up.json()["id"]
    info = httpx.get(graph(sandbox, media_id), headers=bearer(sandbox)).json()
    assert (info["file_size"], info["mime_type"]) == (len(b"\x89PNG image"), "image/png")
    assert httpx.get(info["url"], headers=bearer(sandbox)).content == b"\x89PNG image"
    assert httpx.delete(graph(sandbox, media_id), headers=bearer(sandbox)).json() == {"success": True}
    assert httpx.get(graph(sandbox, media_id), headers=bearer(sandbox)).status_code == 400


@pytest.mark.parametrize("mime,size,ok", [("image/png", 5_000_001, False), ("application/pdf", 6_000_000, True),
                                          ("image/webp", 100_001, False), ("video/mp4", 16_000_000, True)])
def test_uploads_are_capped_per_media_type(sandbox: Sandbox, mime: str, size: int, ok: bool) -> None:
    r = httpx.post(graph(sandbox, f"{sandbox.creds.phone_number_id}/media"), headers=bearer(sandbox),
                   data={"messaging_product": "whatsapp", "type": mime}, files={"file": ("f", b"0" * size, mime)})
    assert (r.status_code == 200) is ok
    if not ok:
        assert r.json()["error"]["code"] == 131053


def test_the_24_hour_rule_at_once_or_in_a_later_status(sandbox: Sandbox, admin: SandboxAdmin, wired: Receiver) -> None:
    admin.customer_sends("whatsapp", "+" + WA_ID, "Hi")
    admin.advance(24 * 3600 + 1)
    wired.requests.clear()
    later = send(sandbox, {"type": "text", "text": {"body": "late"}})
    assert later.status_code == 200
    [call] = wired.wait(1)
    [status] = json.loads(call.body)["entry"][0]["changes"][0]["value"]["statuses"]
    assert status["status"] == "failed" and status["errors"][0]["code"] == 131047
    admin.options(window_mode="sync")
    now = send(sandbox, {"type": "text", "text": {"body": "late"}})
    assert now.status_code == 400
    err = now.json()["error"]
    assert err["code"] == 131047 and "24 hours" in err["error_data"]["details"]
    template = send(sandbox, {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}})
    assert template.status_code == 200  # templates may reopen contact
    admin.customer_sends("whatsapp", "+" + WA_ID, "I'm back")  # the customer reopens the window
    assert send(sandbox, {"type": "text", "text": {"body": "welcome back"}}).status_code == 200
