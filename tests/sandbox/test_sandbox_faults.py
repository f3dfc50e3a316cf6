"""Fault injection and hostile webhook delivery, as tests drive them through the admin API."""

from __future__ import annotations

import time

import httpx
import pytest

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tests.sandbox.receiver import Receiver

CUSTOMER = "+14155550123"


def twilio_send(sandbox: Sandbox, body: str = "x", timeout: float = 5.0) -> httpx.Response:
    c = sandbox.creds
    return httpx.post(f"{sandbox.url}/2010-04-01/Accounts/{c.twilio_account_sid}/Messages.json",
                      data={"To": CUSTOMER, "From": c.sms_number, "Body": body},
                      auth=(c.twilio_account_sid, c.twilio_auth_token), timeout=timeout)


def meta_get(sandbox: Sandbox) -> httpx.Response:
    c = sandbox.creds
    return httpx.get(f"{sandbox.url}/{c.graph_version}/{c.phone_number_id}",
                     headers={"Authorization": f"Bearer {c.meta_access_token}"})


def test_rate_limits_in_each_providers_format_with_retry_after(sandbox: Sandbox, admin: SandboxAdmin) -> None:
    admin.fault(provider="twilio", status=429, retry_after=7)
    r = twilio_send(sandbox)
    assert (r.status_code, r.headers["retry-after"], r.json()["code"]) == (429, "7", 20429)
    assert twilio_send(sandbox).status_code == 201  # one time only
    admin.fault(provider="meta", status=429, retry_after=2.5)
    r = meta_get(sandbox)
    assert (r.status_code, r.headers["retry-after"], r.json()["error"]["code"]) == (429, "2.5", 130429)
    admin.fault(provider="meta", status=400, code=131056, times=2)
    assert [meta_get(sandbox).json()["error"]["code"] for _ in range(2)] == [131056, 131056]
    assert meta_get(sandbox).status_code == 200


def test_faults_match_provider_method_and_path(sandbox: Sandbox, admin: SandboxAdmin) -> None:
    admin.fault(provider="twilio", status=500, method="POST", path="/Messages.json")
    assert meta_get(sandbox).status_code == 200
    assert twilio_send(sandbox).status_code == 500
    assert admin.http.get("/_sandbox/faults").json() == []


def test_slow_answers_still_process_the_request(sandbox: Sandbox, admin: SandboxAdmin) -> None:
    admin.fault(provider="twilio", kind="slow", delay=0.6)
    with pytest.raises(httpx.ReadTimeout):
        twilio_send(sandbox, "slow one", timeout=0.2)
    time.sleep(0.6)
    assert [m["text"] for m in admin.outbound("sms")] == ["slow one"]  # the ambiguous case


@pytest.mark.parametrize("kind,processed", [("drop", False), ("drop_after", True), ("hang", False)])
def test_dropped_connections_before_or_after_processing(sandbox: Sandbox, admin: SandboxAdmin,
                                                        kind: str, processed: bool) -> None:
    admin.fault(provider="twilio", kind=kind, delay=0.1)
    with pytest.raises(httpx.RemoteProtocolError):
        twilio_send(sandbox, kind)
    assert [m["text"] for m in admin.outbound("sms")] == ([kind] if processed else [])


def test_webhooks_can_be_duplicated_held_and_released_out_of_order(
        sandbox: Sandbox, admin: SandboxAdmin, receiver: Receiver) -> None:
    admin.register_sms(sandbox.creds.sms_number, f"{receiver.url}/in")
    admin.options(duplicate=True)
    admin.customer_sends("sms", CUSTOMER, "twice")
    assert [r.form["Body"] for r in receiver.requests] == ["twice", "twice"]
    receiver.requests.clear()
    admin.options(duplicate=False, hold=True)
    for i in range(4):
        assert admin.customer_sends("sms", CUSTOMER, f"held {i}")["deliveries"] == []
    assert receiver.requests == []
    admin.options(hold=False)
    admin.flush("reverse")
    assert [r.form["Body"] for r in receiver.requests] == [f"held {i}" for i in (3, 2, 1, 0)]


def test_meta_redelivers_until_the_agent_says_200_and_twilio_does_not(
        sandbox: Sandbox, admin: SandboxAdmin, receiver: Receiver) -> None:
    admin.register_whatsapp(sandbox.creds.phone_number_id, f"{receiver.url}/events", verify=False)
    admin.register_sms(sandbox.creds.sms_number, f"{receiver.url}/in")
    receiver.answers = [500, 503]
    out = admin.customer_sends("whatsapp", CUSTOMER, "again")
    assert [d["status"] for d in out["deliveries"]] == [500, 503, 200]
    receiver.answers = [500]
    out = admin.customer_sends("sms", CUSTOMER, "once")
    assert [d["status"] for d in out["deliveries"]] == [500]
    assert [(r["kind"], r["status"]) for r in admin.log()][-1] == ("message", 500)


def test_reset_forgets_messages_faults_and_delivery_options(sandbox: Sandbox, admin: SandboxAdmin) -> None:
    twilio_send(sandbox)
    admin.fault(provider="any", status=500, times=5)
    admin.options(duplicate=True, window_mode="sync")
    admin.http.post("/_sandbox/reset")
    assert admin.messages("sms") == [] and admin.http.get("/_sandbox/faults").json() == []
    opts = admin.http.get("/_sandbox/info").json()["options"]
    assert (opts["duplicate"], opts["window_mode"]) == (False, "async")
