"""The customer-phone page in real Chromium: a customer writes, a reply arrives, and a
reply carrying markup shows as plain text (no element, no script)."""

from __future__ import annotations

import httpx
import pytest

from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin

pytestmark = pytest.mark.browser
HOSTILE = '<img src=x onerror="window.pwned=1"><b>bold?</b>'


def test_customer_writes_and_sees_replies_as_plain_text(sandbox: Sandbox, admin: SandboxAdmin, page) -> None:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(sandbox.url + "/")
    page.select_option("#channel", "whatsapp")
    page.fill("#customer", "+14155550177")
    page.fill("#text", "Hello from the phone page")
    page.click("button[type=submit]")
    page.wait_for_selector("#thread li.mine")
    assert page.inner_text("#status") == "No agent is connected to this number yet."
    c = sandbox.creds
    r = httpx.post(f"{sandbox.url}/{c.graph_version}/{c.phone_number_id}/messages",
                   headers={"Authorization": f"Bearer {c.meta_access_token}"},
                   json={"messaging_product": "whatsapp", "to": "14155550177", "type": "text", "text": {"body": HOSTILE}})
    assert r.status_code == 200
    page.wait_for_selector("#thread li.theirs", timeout=5000)
    reply = page.locator("#thread li.theirs span").first
    assert reply.text_content() == HOSTILE
    assert page.locator("#thread img").count() == 0 and page.locator("#thread b").count() == 0
    assert page.evaluate("window.pwned") is None and errors == []
