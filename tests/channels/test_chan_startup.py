"""Around the API server: `[channels]` in the config file synced into the store by name,
and the provider sandbox started in-process when nothing is configured, so a new user
sees the product work offline through the production plugins."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import httpx
import pytest
import tomli_w

from tray_agent import credentials
from tray_agent.api.thread import ServerThread
from tray_agent.app import App
from tray_agent.channels import InboundMessage
from tray_agent.paths import Paths
from tray_agent.run import channel_setup
from tray_agent.sandbox import Sandbox
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.credentials import env_name
from tests.channels.live import CUSTOMER, wait_for


def write_config(home: Paths, channels: dict, **sections: dict) -> None:  # type: ignore[type-arg]
    home.config_file.write_text(tomli_w.dumps({**sections, "channels": channels}))


def sms_entry(sandbox: Sandbox, **settings: str) -> dict:  # type: ignore[type-arg]
    return {"kind": "sms", "business_address": sandbox.creds.sms_number,
            "settings": {"account_sid": sandbox.creds.twilio_account_sid, "api_base": sandbox.url, **settings}}


def by_name(app: App) -> dict:  # type: ignore[type-arg]
    return {c.name: c for c in app.inbox.list_channels(include_disabled=True)}


def test_config_channels_are_created_updated_and_retired_by_name(
        home: Paths, make_app: Callable[..., App], sandbox: Sandbox) -> None:
    wa = {"kind": "whatsapp", "business_address": "+14155550101", "settings": {"phone_number_id": "1"}}
    write_config(home, {"Shop SMS": sms_entry(sandbox), "Shop WhatsApp": wa})
    app = make_app()
    channel_setup.sync_config_channels(app)
    chans = by_name(app)
    assert {n: (c.kind, c.enabled, c.settings["source"]) for n, c in chans.items()} == {
        "Shop SMS": ("sms", True, "config"), "Shop WhatsApp": ("whatsapp", True, "config")}
    app.inbox.receive(chans["Shop SMS"].id, InboundMessage("SM1", CUSTOMER, "keep me"))

    write_config(home, {"Shop SMS": sms_entry(sandbox, poll="on")})
    app = make_app()
    channel_setup.sync_config_channels(app)
    chans = by_name(app)
    assert chans["Shop SMS"].settings["poll"] == "on" and "Shop WhatsApp" not in chans  # unused: deleted

    write_config(home, {})
    app = make_app()
    channel_setup.sync_config_channels(app)
    assert by_name(app)["Shop SMS"].enabled is False  # it carried a conversation: kept, disabled


def test_a_bad_config_entry_is_one_log_line_and_the_rest_still_comes_up(
        home: Paths, make_app: Callable[..., App], sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    write_config(home, {"Fax": {"kind": "fax", "business_address": "+14155550100"},
                        "No number": {"kind": "sms"}, "Shop SMS": sms_entry(sandbox)})
    app = make_app()
    with caplog.at_level(logging.WARNING, logger="tray_agent.run.channel_setup"):
        channel_setup.sync_config_channels(app)
    assert list(by_name(app)) == ["Shop SMS"]
    lines = [r.getMessage() for r in caplog.records]
    assert any("'Fax'" in m and "no channel type 'fax'" in m for m in lines)
    assert any("'No number'" in m and "business_address is missing" in m for m in lines)


def test_with_nothing_configured_the_sandbox_runs_beside_the_agent(
        home: Paths, make_app: Callable[..., App], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    app = make_app()
    server = ServerThread(app).start()
    try:
        auto = server.runner.sandbox
        assert auto is not None
        admin = SandboxAdmin(auto.sandbox.url)
        chans = by_name(app)
        assert {n: c.kind for n, c in chans.items()} == {"Sandbox SMS": "sms", "Sandbox WhatsApp": "whatsapp"}
        wait_for(lambda: all(c.healthy for c in app.inbox.list_channels()), what="both channels to be healthy")
        wait_for(lambda: admin.http.get("/_sandbox/info").json()["whatsapp_numbers"]
                 [auto.sandbox.creds.phone_number_id]["verified"], what="Meta's handshake")
        me = app.agent.id
        for kind, name in (("sms", "Sandbox SMS"), ("whatsapp", "Sandbox WhatsApp")):
            admin.customer_sends(kind, CUSTOMER, f"Hello over {kind}")
            # (each wait_for runs its lambda within this iteration)
            conv = wait_for(lambda: app.inbox.list_inbox(me, "all", channel_id=chans[name].id).items)[0]  # noqa: B023
            app.inbox.reply(me, conv.id, f"Answer over {kind}")
            wait_for(lambda: [m["text"] for m in admin.outbound(kind)] == [f"Answer over {kind}"],  # noqa: B023
                     what=f"{kind} reply")
        secret = auto.sandbox.creds.twilio_auth_token
        assert not home.config_file.exists() or secret not in home.config_file.read_text()
        assert all(secret not in str(c.settings) for c in app.inbox.list_channels())
        # Held in memory, not in the environment (which the window process inherits).
        assert credentials.get("Sandbox SMS", "auth_token") == secret
        assert secret not in os.environ.values()
    finally:
        server.stop()
    assert credentials.get("Sandbox SMS", "auth_token") is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(auto.sandbox.url + "/_sandbox/info")


def test_a_configured_channel_or_mode_off_keeps_the_sandbox_away(
        home: Paths, make_app: Callable[..., App], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    assert channel_setup.wants_sandbox(app)
    monkeypatch.setenv("TRAY_AGENT_SANDBOX_MODE", "off")
    assert not channel_setup.wants_sandbox(make_app())
    monkeypatch.setenv("TRAY_AGENT_SANDBOX_MODE", "auto")
    app.inbox.add_channel("sms", "Sandbox SMS", "+14155550100", {"source": "sandbox"})
    assert channel_setup.wants_sandbox(make_app())  # its own channels do not count as configured
    write_config(home, {"Shop SMS": sms_entry(sandbox)})
    app = make_app()
    assert not channel_setup.wants_sandbox(app)
    monkeypatch.setenv(env_name("Shop SMS", "auth_token"), sandbox.creds.twilio_auth_token)
    server = ServerThread(app).start()
    try:
        assert server.runner.sandbox is None
        chans = by_name(app)
        assert (chans["Sandbox SMS"].enabled, chans["Shop SMS"].enabled) == (False, True)
        wait_for(lambda: app.inbox.get_channel(chans["Shop SMS"].id).healthy, what="the configured channel")
    finally:
        server.stop()
