"""The sandbox speaks Twilio's Programmable Messaging API: Basic auth, 201 resources,
Twilio's error JSON, paging by next_page_uri, media behind a redirect, the 5 MB MMS cap,
and webhooks signed over the exact registered URL (checked with twilio's own validator)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tests.sandbox.receiver import Receiver

CUSTOMER = "+14155550123"


def api(sandbox: Sandbox, path: str = "") -> str:
    return f"{sandbox.url}/2010-04-01/Accounts/{sandbox.creds.twilio_account_sid}{path}"


def auth(sandbox: Sandbox) -> tuple[str, str]:
    return sandbox.creds.twilio_account_sid, sandbox.creds.twilio_auth_token


def send(sandbox: Sandbox, **form: str) -> httpx.Response:
    data = {"To": CUSTOMER, "From": sandbox.creds.sms_number, "Body": "Hello", **form}
    return httpx.post(api(sandbox, "/Messages.json"), data={k: v for k, v in data.items() if v is not None},
                      auth=auth(sandbox))


def test_bad_credentials_get_20003(sandbox: Sandbox) -> None:
    for credentials in [None, (sandbox.creds.twilio_account_sid, "wrong"), ("ACother", sandbox.creds.twilio_auth_token)]:
        r = httpx.post(api(sandbox, "/Messages.json"), data={"To": CUSTOMER, "Body": "x"}, auth=credentials)
        assert r.status_code == 401
        assert r.json() == {"code": 20003, "message": "Authenticate",
                            "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}


def test_send_answers_201_with_the_message_resource_then_signed_status_callbacks(
        sandbox: Sandbox, receiver: Receiver) -> None:
    callback = f"{receiver.url}/status?channel=7"
    r = send(sandbox, StatusCallback=callback)
    assert r.status_code == 201
    m = r.json()
    assert m["sid"].startswith("SM") and len(m["sid"]) == 34
    assert (m["status"], m["direction"], m["to"], m["from"], m["num_media"]) == (
        "queued", "outbound-api", CUSTOMER, sandbox.creds.sms_number, "0")
    assert parsedate_to_datetime(m["date_created"]).tzinfo is not None
    assert m["uri"].endswith(f"/Messages/{m['sid']}.json") and m["subresource_uris"]["media"].endswith("/Media.json")
    calls = receiver.wait(2)
    assert [c.form["MessageStatus"] for c in calls] == ["sent", "delivered"]  # none for "queued"
    validator = RequestValidator(sandbox.creds.twilio_auth_token)
    for c in calls:
        assert c.url == callback
        assert validator.validate(c.url, c.form, c.headers["x-twilio-signature"])


@pytest.mark.parametrize("form,code", [
    ({"To": "12"}, 21211), ({"To": ""}, 21604), ({"Body": ""}, 21619), ({"Body": "x" * 1601}, 21617),
    ({"From": "+14155559999"}, 21606),
])
def test_invalid_sends_get_twilios_error_codes(sandbox: Sandbox, form: dict[str, str], code: int) -> None:
    r = send(sandbox, **form)
    assert r.status_code == 400 and r.json()["code"] == code and r.json()["message"]


def test_mms_media_is_fetched_and_capped_at_5_mb(sandbox: Sandbox, receiver: Receiver) -> None:
    receiver.files = {"a.png": ("image/png", b"\x89PNG" + b"0" * 100), "big.bin": ("application/pdf", b"0" * 5_000_001)}
    ok = send(sandbox, MediaUrl=f"{receiver.url}/files/a.png")
    assert ok.status_code == 201 and ok.json()["sid"].startswith("MM") and ok.json()["num_media"] == "1"
    too_big = send(sandbox, MediaUrl=f"{receiver.url}/files/big.bin")
    assert too_big.status_code == 400 and too_big.json()["code"] == 30019
    gone = send(sandbox, MediaUrl=f"{receiver.url}/files/missing")
    assert gone.status_code == 400 and gone.json()["code"] == 21620


def test_list_pages_by_next_page_uri_newest_first_with_date_filters(sandbox: Sandbox, admin: SandboxAdmin) -> None:
    for i in range(7):
        admin.customer_sends("sms", CUSTOMER, f"m{i}")
        admin.advance(3600)
    admin.advance(3 * 86400)
    admin.customer_sends("sms", CUSTOMER, "today")
    seen, url, pages = [], api(sandbox, "/Messages.json") + "?To=%2B14155550100&PageSize=3", 0
    while url:
        page = httpx.get(url, auth=auth(sandbox)).json()
        seen += [m["body"] for m in page["messages"]]
        url = sandbox.url + page["next_page_uri"] if page["next_page_uri"] else None
        pages += 1
    assert pages == 3 and seen == ["today"] + [f"m{i}" for i in reversed(range(7))]
    today = sandbox.state.now().date().isoformat()
    recent = httpx.get(api(sandbox, "/Messages.json"), params={"To": sandbox.creds.sms_number, "DateSent>": today},
                       auth=auth(sandbox)).json()
    assert [m["body"] for m in recent["messages"]] == ["today"]


def test_inbound_webhook_is_signed_over_the_registered_url_and_media_sits_behind_a_redirect(
        sandbox: Sandbox, admin: SandboxAdmin, receiver: Receiver) -> None:
    hook = f"{receiver.url}/webhooks/3/inbound?tenant=a%20b"
    admin.register_sms(sandbox.creds.sms_number, hook)
    out = admin.customer_sends("sms", CUSTOMER, "Look", files=[("x.png", "image/png", b"\x89PNG data")])
    [call] = receiver.requests
    assert call.url == hook and out["deliveries"][0]["status"] == 200
    form = call.form
    assert RequestValidator(sandbox.creds.twilio_auth_token).validate(hook, form, call.headers["x-twilio-signature"])
    assert (form["From"], form["To"], form["Body"], form["NumMedia"], form["MediaContentType0"]) == (
        CUSTOMER, sandbox.creds.sms_number, "Look", "1", "image/png")
    assert form["MessageSid"] == form["SmsSid"] == form["SmsMessageSid"] == out["ids"][0]
    assert httpx.get(form["MediaUrl0"]).status_code == 401
    media = httpx.get(form["MediaUrl0"], auth=auth(sandbox))
    assert media.status_code == 307
    assert httpx.get(form["MediaUrl0"], auth=auth(sandbox), follow_redirects=True).content == b"\x89PNG data"
