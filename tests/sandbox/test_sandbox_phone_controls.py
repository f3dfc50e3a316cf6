"""The customer-phone page's sandbox controls, clicked in Chromium: moving the providers'
time ("+1 h", "+24 h") and making the provider refuse the agent's next send."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from tray_agent.sandbox import Sandbox

pytestmark = pytest.mark.browser


def _now(sandbox: Sandbox) -> datetime:
    return datetime.fromisoformat(httpx.get(sandbox.url + "/_sandbox/info").json()["now"])


def test_clock_and_fault_buttons_move_time_and_fail_the_next_send(sandbox: Sandbox, page, artifacts_dir) -> None:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(sandbox.url + "/")
    page.wait_for_function("() => document.querySelector('#clock').textContent !== ''")
    before = _now(sandbox)
    page.click("text=+24 h")
    page.wait_for_selector("#status >> text=Provider time moved +24 h.")
    page.click("text=+1 h")
    page.wait_for_selector("#status >> text=Provider time moved +1 h.")
    moved = _now(sandbox) - before
    assert timedelta(hours=25) <= moved < timedelta(hours=25, minutes=1)

    page.click("#fail-next")
    page.wait_for_selector("#status >> text=The agent's next SMS (Twilio) message will fail.")
    page.screenshot(path=str(artifacts_dir / "phone-controls.png"))
    c = sandbox.creds
    send = f"{sandbox.url}/2010-04-01/Accounts/{c.twilio_account_sid}/Messages.json"
    auth = (c.twilio_account_sid, c.twilio_auth_token)
    form = {"To": "+14155550123", "From": c.sms_number, "Body": "Hello"}
    assert httpx.post(send, data=form, auth=auth).status_code == 400  # the next send fails ...
    assert httpx.post(send, data=form, auth=auth).status_code == 201  # ... and only that one
    assert errors == []
