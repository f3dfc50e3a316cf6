"""No credential reaches the log file, the console or an error a user sees, at any level:
real SMS and WhatsApp traffic (and the in-process sandbox's Meta handshake, whose URL
carries the verify token) with the agent's own logging set-up at DEBUG."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tray_agent.api.thread import ServerThread
from tray_agent.app import App
from tray_agent.paths import Paths
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.testing.logcapture import AgentLogs
from tests.channels.live import CUSTOMER, Live, channel_secrets, wait_for


def leaks(text: str, credentials: dict[str, str]) -> list[str]:
    """The names of the credentials that ``text`` contains."""
    return [name for name, value in credentials.items() if value in text]


def what_users_see(app: App, url: str, token: str) -> str:
    """Every error surface: channel health, message failures, `doctor`'s plugin errors."""
    auth = {"Authorization": f"Bearer {token}"}
    shown = [httpx.get(f"{url}/api/channels", headers=auth).text]
    for conv in app.inbox.list_inbox(app.agent.id, "all", limit=200).items:
        shown.append(httpx.get(f"{url}/api/conversations/{conv.id}/messages", headers=auth).text)
    shown += [f"{e.hook}: {e.error}" for e in app.recent_plugin_errors(100)]
    return "\n".join(shown)


def test_sms_and_whatsapp_traffic_at_debug_logs_no_credential(agent_logs: AgentLogs, live: Live) -> None:
    creds = {f"{ch} {name}": v for (ch, name), v in channel_secrets(live.sandbox).items()}
    creds["API token"] = live.server.token
    for kind, channel in (("sms", live.sms), ("whatsapp", live.wa)):
        live.admin.customer_sends(kind, CUSTOMER, f"Hello over {kind}")
        conv = live.conversation(channel)
        reply = live.app.inbox.reply(live.me, conv.id, f"Answer over {kind}")
        live.wait_status(reply.id, "delivered", "read")
    # A provider refusal, so that error paths log and store their text too.
    live.admin.fault(provider="meta", status=401, code=190, method="POST", path="/messages")
    conv = live.conversation(live.wa)
    failed = live.app.inbox.reply(live.me, conv.id, "This one is refused")
    live.wait_status(failed.id, "failed")
    # Meta's handshake again: the verify token travels in the URL's query.
    assert live.admin.register_whatsapp(live.sandbox.creds.phone_number_id, live.hook(live.wa, "events"))["verified"]

    logged = agent_logs.text()
    assert " DEBUG " in logged  # the level really was DEBUG
    assert leaks(logged, creds) == []
    assert leaks(what_users_see(live.app, live.url, live.server.token), creds) == []


def test_the_in_process_sandbox_logs_none_of_its_credentials(
        agent_logs: AgentLogs, home: Paths, make_app: Callable[..., App], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("TRAY_AGENT_SANDBOX_MODE", "auto")
    app = make_app()
    server = ServerThread(app).start()
    try:
        auto = server.runner.sandbox
        assert auto is not None
        admin = SandboxAdmin(auto.sandbox.url)
        c = auto.sandbox.creds
        creds = {"twilio auth token": c.twilio_auth_token, "meta access token": c.meta_access_token,
                 "meta app secret": c.meta_app_secret, "meta verify token": c.meta_verify_token,
                 "API token": server.token}
        wait_for(lambda: admin.http.get("/_sandbox/info").json()["whatsapp_numbers"]
                 [c.phone_number_id]["verified"], what="Meta's handshake")
        for kind in ("sms", "whatsapp"):
            admin.customer_sends(kind, CUSTOMER, f"Hello over {kind}")
        convs = wait_for(lambda: len(items := app.inbox.list_inbox(app.agent.id, "all").items) == 2 and items)
        for conv in convs:
            app.inbox.reply(app.agent.id, conv.id, "Answer")
        wait_for(lambda: all(admin.outbound(k) for k in ("sms", "whatsapp")), what="both replies")
        logged = agent_logs.text()
        assert "customer phone" in logged  # the line a new user needs, still there
        assert leaks(logged, creds) == []
        assert leaks(what_users_see(app, server.url, server.token), creds) == []
        assert leaks(json.dumps(admin.http.get("/_sandbox/info").json()), creds) == []
    finally:
        server.stop()
