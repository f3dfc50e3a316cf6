"""`tray-agent server --sandbox`: the team server's channels point at the provider sandbox, so
a whole team runs on one machine through the production plugins and their webhooks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tray_agent import credentials
from tray_agent.sandbox.client import SandboxAdmin
from tests.server.live import CONSOLE_ACTOR, sandbox_server, wait_for

pytestmark = pytest.mark.postgres
CUSTOMER = "+14155550199"


def test_a_customer_text_through_the_sandbox_reaches_an_agent_and_the_reply_goes_out_once(
        tmp_path: Path, postgres_db_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRAY_AGENT_HOME", str(tmp_path / "home"))
    with sandbox_server(tmp_path / "home", postgres_db_url) as srv:
        app = srv.app
        sandbox = srv._auto.sandbox  # type: ignore[union-attr]
        admin = SandboxAdmin(sandbox.url)
        assert {c.name for c in app.inbox.list_channels()} == {"Sandbox SMS", "Sandbox WhatsApp"}
        _, code = srv.accounts.add_agent(CONSOLE_ACTOR, "Bea", "bea@example.com")
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            token = c.post("/sync/v1/sign-in", json={"code": code, "device_name": "Laptop"}).json()["token"]
            c.headers["Authorization"] = f"Bearer {token}"
            admin.customer_sends("sms", CUSTOMER, "Hello team")

            def arrived() -> list[dict[str, Any]]:
                snap = c.get("/sync/v1/snapshot").json()
                return [x for x in snap["conversations"] if x["last_message_preview"] == "Hello team"]

            conv = wait_for(arrived, what="the customer's text in the agent's snapshot")[0]
            r = c.post(f"/sync/v1/conversations/{conv['id']}/reply", json={"text": "Hi, Bea here"},
                       headers={"Idempotency-Key": "sandbox-1"})
            assert r.status_code == 201
            c.post(f"/sync/v1/conversations/{conv['id']}/reply", json={"text": "Hi, Bea here"},
                   headers={"Idempotency-Key": "sandbox-1"})
        wait_for(lambda: admin.outbound("sms"), what="the reply at the sandbox")
        time.sleep(0.5)
        assert [m["text"] for m in admin.outbound("sms")] == ["Hi, Bea here"]
        assert credentials.get("Sandbox SMS", "auth_token") == sandbox.creds.twilio_auth_token
    assert credentials.get("Sandbox SMS", "auth_token") is None
