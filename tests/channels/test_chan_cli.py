"""`tray-agent channel add|list|remove|test`: settings to the TOML file and the store,
credentials to the keyring only; `test` asks the provider and `doctor` shows the answer."""

from __future__ import annotations

import json
import tomllib

import pytest
from click.testing import CliRunner, Result

from tray_agent.cli import cli
from tray_agent.paths import Paths
from tray_agent.sandbox import Sandbox
from tests.channels.keyring_memory import MemoryKeyring


@pytest.fixture
def run(home: Paths, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRAY_AGENT_SANDBOX_MODE", "off")

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


def add_sms(run, sandbox: Sandbox, name: str = "Shop SMS", token: str | None = None) -> Result:  # type: ignore[no-untyped-def]
    c = sandbox.creds
    return run("channel", "add", "sms", name, "--number", "+1 (415) 555-0100",
               "--set", f"account_sid={c.twilio_account_sid}", "--set", f"api_base={sandbox.url}", "--set", "poll=off",
               input=(token or c.twilio_auth_token) + "\n")


def test_add_keeps_the_credential_in_the_keyring_and_out_of_the_config_file(
        run, sandbox: Sandbox, home: Paths, memory_keyring: MemoryKeyring) -> None:  # type: ignore[no-untyped-def]
    r = add_sms(run, sandbox)
    assert r.exit_code == 0, r.output
    assert "/webhooks/1/inbound" in r.output and sandbox.creds.twilio_auth_token not in r.output
    text = home.config_file.read_text()
    assert sandbox.creds.twilio_auth_token not in text
    cfg = tomllib.loads(text)["channels"]["Shop SMS"]
    assert cfg == {"kind": "sms", "business_address": "+14155550100",
                   "settings": {"account_sid": sandbox.creds.twilio_account_sid, "api_base": sandbox.url, "poll": "off"}}
    assert memory_keyring.store[("tray-agent", "Shop SMS:auth_token")] == sandbox.creds.twilio_auth_token


def test_list_json_shows_kind_number_health_and_webhook_urls(run, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    add_sms(run, sandbox)
    c = sandbox.creds
    r = run("channel", "add", "whatsapp", "Shop WhatsApp", "--number", c.whatsapp_number, "--set",
            f"phone_number_id={c.phone_number_id}", "--set", f"api_base={sandbox.url}", "--secret",
            f"access_token={c.meta_access_token}", "--secret", f"app_secret={c.meta_app_secret}",
            "--secret", "verify_token=v", "--no-prompt")
    assert r.exit_code == 0, r.output
    listed = json.loads(run("channel", "list", "--json").output)
    assert [(ch["name"], ch["kind"], ch["business_address"], ch["healthy"]) for ch in listed] == [
        ("Shop SMS", "sms", "+14155550100", None), ("Shop WhatsApp", "whatsapp", "+14155550101", None)]
    assert [(w["method"], w["url"].rsplit("/webhooks/", 1)[1]) for w in listed[0]["webhooks"]] == [
        ("POST", "1/inbound"), ("POST", "1/status")]
    assert [(w["method"], w["url"].rsplit("/webhooks/", 1)[1]) for w in listed[1]["webhooks"]] == [
        ("GET", "2/events"), ("POST", "2/events")]


def test_test_records_health_and_a_wrong_credential_shows_in_doctor(
        run, sandbox: Sandbox, memory_keyring: MemoryKeyring) -> None:  # type: ignore[no-untyped-def]
    add_sms(run, sandbox)
    ok = run("channel", "test", "Shop SMS")
    assert ok.exit_code == 0 and "Shop SMS: ok" in ok.output
    memory_keyring.store[("tray-agent", "Shop SMS:auth_token")] = "0" * 32
    bad = run("channel", "test", "1")
    assert bad.exit_code == 1 and "Authenticate" in bad.output
    doctor = json.loads(run("doctor", "--json").output)
    [ch] = doctor["channels"]
    assert ch["healthy"] is False and "Authenticate (error 20003)" in ch["detail"]


def test_remove_deletes_an_unused_channel_with_its_credentials(
        run, sandbox: Sandbox, home: Paths, memory_keyring: MemoryKeyring) -> None:  # type: ignore[no-untyped-def]
    add_sms(run, sandbox)
    r = run("channel", "remove", "Shop SMS")
    assert r.exit_code == 0 and "deleted" in r.output
    assert "Shop SMS" not in home.config_file.read_text() and memory_keyring.store == {}
    assert json.loads(run("channel", "list", "--json").output) == []


@pytest.mark.parametrize("args,message", [
    (["channel", "add", "fax", "X", "--number", "+14155550100"], "There is no channel type 'fax'"),
    (["channel", "add", "sms", "X", "--number", "not a number", "--no-prompt"], "is not a phone number"),
    (["channel", "add", "sms", "X", "--number", "+14155550100", "--set", "colour=red"], "SMS has no setting colour"),
    (["channel", "add", "sms", "X", "--number", "+14155550100", "--no-prompt"], "The credential auth_token is missing"),
    (["channel", "test", "nope"], "There is no channel 'nope'"),
])
def test_bad_input_is_one_clear_line(run, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    r = run(*args)
    assert r.exit_code == 1
    assert message in r.output and len(r.output.strip().splitlines()) == 1


def test_set_routes_a_channel_to_a_queue_and_sets_sms_auto_close(run, sandbox: Sandbox, home: Paths) -> None:  # type: ignore[no-untyped-def]
    add_sms(run, sandbox)
    bea = run("agent", "add", "Bea")
    assert bea.exit_code == 0, bea.output
    queue = run("queue", "add", "Billing", "--member", bea.output.split()[1].rstrip(":"))
    assert queue.exit_code == 0, queue.output
    r = run("channel", "set", "Shop SMS", "--queue", "Billing", "--auto-close", "2d")
    assert r.exit_code == 0, r.output
    assert r.output.strip() == ("channel 1: Shop SMS — new conversations go to queue Billing; "
                                "idle conversations close after 2 days.")
    shown = json.loads(run("channel", "list", "--json").output)[0]
    assert (shown["route_queue_id"], shown["auto_close_seconds"]) == (1, 172800)
    # Kept in the config file too, so the next start does not undo it.
    assert tomllib.loads(home.config_file.read_text())["channels"]["Shop SMS"]["auto_close_seconds"] == 172800
    r = run("channel", "set", "1", "--agent", "Bea", "--queue", "none", "--auto-close", "never")
    assert r.output.strip() == "channel 1: Shop SMS — new conversations go to agent Bea; idle conversations never close."


@pytest.mark.parametrize("args,message", [
    (["--queue", "Nope"], "There is no queue 'Nope'; `tray-agent queue list` shows them."),
    (["--agent", "Nobody"], "There is no agent 'Nobody'; `tray-agent agent list` shows them."),
    (["--auto-close", "soon"], "'soon' is not a time; use e.g. 90m, 12h, 2d, or never."),
    ([], "Say what to change: --queue, --agent or --auto-close."),
])
def test_set_with_bad_input_is_one_clear_line(run, sandbox: Sandbox, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    add_sms(run, sandbox)
    r = run("channel", "set", "Shop SMS", *args)
    assert r.exit_code == 1 and r.output.strip() == f"error: {message}"


def test_add_says_the_credential_came_from_the_environment(
        run, sandbox: Sandbox, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from tray_agent.credentials import env_name

    monkeypatch.setenv(env_name("Env SMS", "auth_token"), sandbox.creds.twilio_auth_token)
    c = sandbox.creds
    r = run("channel", "add", "sms", "Env SMS", "--number", "+14155550100", "--no-prompt",
            "--set", f"account_sid={c.twilio_account_sid}", "--set", f"api_base={sandbox.url}")
    assert r.exit_code == 0, r.output
    first = r.output.splitlines()[0]
    assert first.endswith(f"added; credentials: read from {env_name('Env SMS', 'auth_token')}.")
    assert "keyring" not in first and memory_keyring.store == {}
    r = add_sms(run, sandbox)
    assert "added; credentials: auth_token stored in the keyring." in r.output


def test_telegram_in_polling_mode_needs_only_the_bot_token(run, memory_keyring: MemoryKeyring) -> None:  # type: ignore[no-untyped-def]
    r = run("channel", "add", "telegram", "Bot", "--set", "bot_username=@shop_bot", "--no-prompt",
            "--secret", "bot_token=123:abc")
    assert r.exit_code == 0, r.output
    assert memory_keyring.store == {("tray-agent", "Bot:bot_token"): "123:abc"}
