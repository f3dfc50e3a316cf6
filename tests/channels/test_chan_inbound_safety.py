"""No inbound message lost to one bad entry, and no body read past what a provider sends:
a notification with a broken entry stores the rest and is acknowledged (the broken one is
shown by `doctor`); oversized bodies get 413 before they are read, signed or not."""

from __future__ import annotations

import json
import select
import socket
import time
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from click.testing import CliRunner
from twilio.request_validator import RequestValidator

from tray_agent.channels import InboundMessage
from tray_agent.cli import cli
from tray_agent.sandbox.webhooks import meta_signature
from tests.channels.live import CUSTOMER, Live
from tests.channels.test_chan_webhooks import twilio_form

TWENTY_MB = 20_000_000


def notification(live: Live, messages: list[dict], statuses: list[dict] | None = None) -> bytes:
    c = live.sandbox.creds
    value: dict = {"messaging_product": "whatsapp",
                   "metadata": {"display_phone_number": "14155550101", "phone_number_id": c.phone_number_id},
                   "contacts": [{"profile": {"name": "Ana"}, "wa_id": "14155550123"}], "messages": messages}
    changes = [{"field": "messages", "value": value}]
    if statuses is not None:
        changes.append({"field": "messages", "value": {**value, "messages": [], "statuses": statuses}})
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": c.waba_id, "changes": changes}]}).encode()


def text_message(wamid: str, text: str) -> dict:
    return {"from": "14155550123", "id": wamid, "timestamp": "1773133200", "type": "text", "text": {"body": text}}


def post_signed_meta(live: Live, body: bytes) -> httpx.Response:
    return httpx.post(live.hook(live.wa, "events"), content=body, timeout=30, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(live.sandbox.creds.meta_app_secret, body)})


def post_signed_twilio(live: Live, path: str, form: list[tuple[str, str]]) -> httpx.Response:
    url = live.hook(live.sms, path)
    sig = RequestValidator(live.sandbox.creds.twilio_auth_token).compute_signature(url, dict(form))
    return httpx.post(url, content=urlencode(form), timeout=30, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})


def doctor_errors() -> list[dict]:
    r = CliRunner().invoke(cli, ["doctor", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)["plugin_errors"]


# -- item 5: one bad entry never costs the good ones ---------------------------------------------


def test_a_notification_with_one_message_without_an_id_stores_the_other_and_answers_200(live: Live) -> None:
    bad = {"from": "14155550123", "timestamp": "1773133200", "type": "text", "text": {"body": "secret text"}}
    body = notification(live, [text_message("wamid.GOOD1", "I am valid"), bad],
                        statuses=[{"status": "delivered", "timestamp": "1773133200"}])
    r = post_signed_meta(live, body)
    assert r.status_code == 200  # acknowledged: Meta's retries would fail on the same entry for a week
    conv = live.conversation(live.wa)
    assert [m.text for m in live.messages(conv.id)] == ["I am valid"]
    problems = [e for e in doctor_errors() if e["plugin"] == "whatsapp" and e["hook"] == "webhook"]
    assert any("message without an id" in e["error"] for e in problems), problems
    assert any("status without a message id" in e["error"] for e in problems), problems
    assert not any("secret text" in e["error"] for e in problems)  # customer text never logged or recorded


def test_a_media_message_without_a_media_id_is_recorded_and_the_text_beside_it_is_stored(live: Live) -> None:
    broken = {"from": "14155550123", "id": "wamid.NOMEDIA", "timestamp": "1773133200", "type": "image", "image": {}}
    r = post_signed_meta(live, notification(live, [broken, text_message("wamid.GOOD2", "still here")]))
    assert r.status_code == 200
    assert [m.text for m in live.messages(live.conversation(live.wa).id)] == ["still here"]
    assert any("wamid.NOMEDIA" in e["error"] and "no media id" in e["error"] for e in doctor_errors())


def test_a_twilio_webhook_that_can_never_be_stored_is_acknowledged_and_shown_by_doctor(live: Live) -> None:
    form = [(k, v) for k, v in twilio_form(live, "SM" + "7" * 32, "hello") if k != "From"]
    r = post_signed_twilio(live, "inbound", [*form, ("From", "+1 not a number at all")])
    assert r.status_code == 200 and r.text == "<Response/>"  # Twilio does not retry: nothing is gained by a 400
    status = post_signed_twilio(live, "status", [("MessageStatus", "delivered"), ("AccountSid", "AC1")])
    assert status.status_code == 200
    errors = [e["error"] for e in doctor_errors() if e["plugin"] == "sms"]
    assert any("SM" + "7" * 32 in e and "not stored" in e for e in errors), errors
    assert any("status callback was skipped" in e for e in errors), errors
    assert live.stored() == 0


# -- item 7: bodies bounded before they are read --------------------------------------------------


def raw_request(url: str, head: str, chunks, *, chunked: bool) -> tuple[bytes, int]:  # type: ignore[no-untyped-def]
    """Send ``head`` then ``chunks`` on a raw socket, stopping as soon as the server answers;
    returns (the answer, how many body bytes went out)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sent = 0
    answer = b""
    try:
        sock.sendall(head.encode())
        for chunk in chunks:
            ready, _, _ = select.select([sock], [], [], 0)
            if ready:
                break
            try:
                sock.sendall((f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") if chunked else chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            answer += data
            if b"\r\n\r\n" in answer and b"}" in answer:
                break
    finally:
        sock.close()
    return answer, sent


def head_for(url: str, extra: str) -> str:
    parts = urlsplit(url)
    return (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature-256: sha256={'0' * 64}\r\n{extra}\r\n")


@pytest.mark.parametrize("path", ["events", "inbound"])
def test_an_unsigned_20_mb_body_is_refused_by_its_content_length_before_it_is_read(live: Live, path: str) -> None:
    channel = live.wa if path == "events" else live.sms
    url = live.hook(channel, path)
    # Only the head goes out: a 413 that comes back proves the body was never waited for.
    answer, _ = raw_request(url, head_for(url, f"Content-Length: {TWENTY_MB}\r\n"), [], chunked=False)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "body_too_large"
    assert live.stored() == 0


def test_a_chunked_20_mb_body_without_content_length_is_cut_off_at_the_endpoints_limit(live: Live) -> None:
    url = live.hook(live.wa, "events")
    chunks = (b"x" * 65536 for _ in range(TWENTY_MB // 65536))
    answer, sent = raw_request(url, head_for(url, "Transfer-Encoding: chunked\r\n"), chunks, chunked=True)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < TWENTY_MB // 2  # refused while streaming, long before the whole body
    assert live.stored() == 0
    assert httpx.get(f"{live.url}/webhooks/{live.wa}/nothing").status_code == 404  # the server carries on


def test_a_content_length_that_understates_the_body_reads_only_what_it_declares(live: Live) -> None:
    url = live.hook(live.wa, "events")
    answer, _ = raw_request(url, head_for(url, "Content-Length: 100\r\n"), [b"{" + b"x" * 2_000_000], chunked=False)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]  # 100 bytes read, unsigned: refused
    assert live.stored() == 0


def test_a_signed_20_mb_sms_body_is_413_and_stores_nothing(live: Live) -> None:
    form = twilio_form(live, "SM" + "8" * 32, "x" * TWENTY_MB)
    r = post_signed_twilio(live, "inbound", form)
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    assert live.stored() == 0


def test_a_signed_sms_body_over_twilios_1600_characters_is_not_genuine(live: Live) -> None:
    r = post_signed_twilio(live, "inbound", twilio_form(live, "SM" + "9" * 32, "é" * 1601))
    assert r.status_code == 413 and r.json() == {"error": "body_too_large", "message": r.json()["message"]}
    assert "1600" in r.json()["message"] and live.stored() == 0
    ok = post_signed_twilio(live, "inbound", twilio_form(live, "SM" + "a" * 32, "é" * 1600))
    assert ok.status_code == 200
    assert len(live.messages(live.conversation(live.sms).id)[0].text) == 1600


@pytest.mark.parametrize("size", [TWENTY_MB, 4097])
def test_a_signed_whatsapp_text_over_4096_characters_is_413_and_stores_nothing(live: Live, size: int) -> None:
    r = post_signed_meta(live, notification(live, [text_message("wamid.BIG", "y" * size)]))
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    assert live.stored() == 0


def test_text_longer_than_any_provider_sends_is_cut_with_a_mark_by_the_core(live: Live) -> None:
    # An adapter that does not refuse such text itself (a plugin's polling path) still cannot
    # make the store hold it whole.
    live.app.inbox.receive(live.sms, InboundMessage("SMhuge", CUSTOMER, "z" * 1_000_000))
    [m] = live.messages(live.conversation(live.sms).id)
    assert len(m.text) < 4000 and m.text.startswith("z" * 1600)
    assert "more characters were not kept" in m.text


def test_a_group_commit_cancelled_at_shutdown_leaves_no_webhook_waiting() -> None:
    import asyncio
    import threading

    from tray_agent.run.group_commit import GroupCommit

    release = threading.Event()
    group = GroupCommit(lambda c, m: 1, lambda batches: release.wait(5) and len(batches))

    async def shutdown_mid_batch() -> set:
        first = asyncio.ensure_future(group.store(1, [InboundMessage("SM1", CUSTOMER, "a")]))
        await asyncio.sleep(0.05)  # the first batch is committing
        second = asyncio.ensure_future(group.store(1, [InboundMessage("SM2", CUSTOMER, "b")]))
        await asyncio.sleep(0.05)  # queued behind it
        assert group._worker is not None
        group._worker.cancel()
        _done, pending = await asyncio.wait({first, second}, timeout=2)
        release.set()
        return pending

    assert asyncio.run(shutdown_mid_batch()) == set()
