"""Click-to-call through the Yeastar plugin against a fake P-Series PBX on loopback: the agent's
extension rings first, the customer's number is dialled; tokens are fetched, refreshed and
renewed when the PBX rejects them; every refusal reaches the agent as a failed call, in words."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tray_agent.channels import InboundMessage
from tray_agent.core.errors import TrayAgentError
from tray_agent.core.models import Agent
from tray_agent.testing import AgentUnderTest
from tray_agent.testing.agent import TOKEN
from tests.channels.conftest import memory_keyring  # noqa: F401  (the in-memory keyring fixture)
from tray_agent_yeastar.openapi import PSeriesApi
from yeastar_fake_pbx import Extension, FakePbx

CUSTOMER = "+14155550199"


@pytest.fixture
def pbx(loopback_server: Callable[[Any], Any]) -> FakePbx:
    fake = FakePbx()
    fake.url = loopback_server(fake.app()).url  # type: ignore[attr-defined]
    return fake


@pytest.fixture
def set_up(pbx: FakePbx, monkeypatch: pytest.MonkeyPatch) -> FakePbx:
    """The PBX's address in the environment, its credentials as a server keeps them."""
    monkeypatch.setenv("TRAY_AGENT_CALLS_YEASTAR_PBX_URL", pbx.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("TRAY_AGENT_CALLS_YEASTAR_RESULT_WAIT_SECONDS", "3")
    monkeypatch.setenv("TRAY_AGENT_SECRET_CALLS_YEASTAR_CLIENT_ID", pbx.client_id)
    monkeypatch.setenv("TRAY_AGENT_SECRET_CALLS_YEASTAR_CLIENT_SECRET", pbx.client_secret)
    return pbx


@pytest.fixture
def desk(agent_under_test: Callable[..., AgentUnderTest]) -> Iterator[Callable[..., tuple[AgentUnderTest, int]]]:
    """An agent with the yeastar handler and an SMS conversation with CUSTOMER; the local
    agent's profile has ``extension``."""

    def make(extension: str | None = "1005") -> tuple[AgentUnderTest, int]:
        agent = agent_under_test(["yeastar", "twilio"])
        with agent.app.db.write() as s:
            s.get(Agent, agent.agent_id).extension = extension  # type: ignore[union-attr]
        cid = agent.add_channel("sms", "Support SMS", "+14155550100", {"account_sid": "AC" + "0" * 32, "poll": "off"})
        agent.app.inbox.receive(cid, InboundMessage("SM1", CUSTOMER, "please call me"))
        return agent, agent.conversations()[0].id

    yield make


def _call(agent: AgentUnderTest, conv: int) -> httpx.Response:
    return agent.http.post(f"/api/conversations/{conv}/call", json={"handler": "yeastar"},
                           headers={"Authorization": f"Bearer {TOKEN}"})


def _last_row(agent: AgentUnderTest, conv: int) -> Any:
    return agent.messages(conv)[-1]


def test_call_rings_the_agents_extension_then_dials_the_customer(set_up, desk):
    agent, conv = desk()
    r = _call(agent, conv)
    assert r.status_code == 200, r.text
    assert set_up.dials == [{"caller": "1005", "callee": CUSTOMER, "auto_answer": "no",
                             "call_id": r.json()["call_id"]}]
    assert set_up.endpoints() == ["get_token", "subscribe", "call/dial"]
    assert all(ua == "OpenAPI" for _, ua, _ in set_up.requests)
    assert r.json()["outcome"] == "the customer's phone is ringing"
    row = _last_row(agent, conv)
    assert row.kind == "call" and row.meta["handler"] == "yeastar" and row.meta["started"] is True
    assert row.meta["call_id"] == r.json()["call_id"] and row.meta["outcome"] == "the customer's phone is ringing"
    assert row.text == f"Call to {CUSTOMER}: The PBX is ringing your extension 1005, then dials {CUSTOMER}"


def test_an_access_token_the_pbx_expired_is_refreshed_and_the_dial_sent_once_more(set_up, desk):
    agent, conv = desk()
    assert _call(agent, conv).status_code == 200
    set_up.expire_tokens()  # the PBX forgets the access token before its 30 minutes are up
    set_up.requests.clear()
    r = _call(agent, conv)
    assert r.status_code == 200, r.text
    # The event socket is refused with the old token: refreshed, and opened once more.
    assert set_up.endpoints() == ["subscribe", "refresh_token", "subscribe", "call/dial"]
    assert len(set_up.dials) == 2
    assert _last_row(agent, conv).meta["started"] is True


def test_a_dial_refused_for_an_expired_token_is_sent_once_more_after_a_refresh(pbx):
    api = PSeriesApi(pbx.url, pbx.client_id, pbx.client_secret)  # type: ignore[attr-defined]
    try:
        api.access_token()
        pbx.expire_tokens()
        answer, call_id = api.dial("1005", CUSTOMER)
        assert answer.ok and call_id
        assert pbx.endpoints() == ["get_token", "call/dial", "refresh_token", "call/dial"]
        assert len(pbx.dials) == 1
        pbx.expire_tokens()
        pbx.expire_refresh_tokens()  # and after a PBX restart: both gone, so a new pair is fetched
        assert api.dial("1005", CUSTOMER)[0].ok
        assert pbx.endpoints()[4:] == ["call/dial", "refresh_token", "get_token", "call/dial"]
    finally:
        api.close()


def test_tokens_are_refreshed_before_they_expire_and_fetched_again_after_24_hours(pbx):
    now = [0.0]
    api = PSeriesApi(pbx.url, pbx.client_id, pbx.client_secret, clock=lambda: now[0])  # type: ignore[attr-defined]
    try:
        first = api.access_token()
        assert api.access_token() == first and pbx.endpoints() == ["get_token"]
        now[0] += 30 * 60  # the access token's 30 minutes
        second = api.access_token()
        assert second != first and pbx.endpoints() == ["get_token", "refresh_token"]
        pbx.expire_refresh_tokens()
        now[0] += 24 * 3600  # the refresh token's 24 hours
        api.access_token()
        assert pbx.endpoints() == ["get_token", "refresh_token", "get_token"]
    finally:
        api.close()


@pytest.mark.parametrize("extension, busy, reason", [
    (Extension(outbound=False), False, "Your extension 1005 has no outbound call permission; ask the PBX administrator."),
    (Extension(registered=False), False, "Your extension 1005 did not answer or is offline (480 Temporatily Unavailable); "
                                         "sign in to your phone or Linkus and try again."),
    (Extension(), True, "The customer is busy on another call (486 Busy Here)."),
])
def test_a_refusal_the_pbx_reports_afterwards_is_a_failed_call_with_the_reason(set_up, desk, extension, busy, reason):
    set_up.extensions["1005"] = extension
    if busy:
        set_up.busy_numbers.add(CUSTOMER)
    agent, conv = desk()
    r = _call(agent, conv)
    assert r.status_code == 409 and r.json() == {"error": "call_failed", "message": reason}
    row = _last_row(agent, conv)
    assert row.meta["started"] is False and row.meta["reason"] == reason and row.meta["handler"] == "yeastar"
    assert row.text == f"Call to {CUSTOMER} failed: {reason}"


def test_an_extension_the_pbx_does_not_have_is_refused_at_once(set_up, desk):
    agent, conv = desk(extension="1099")
    r = _call(agent, conv)
    assert r.status_code == 409
    assert r.json()["message"] == ("The PBX has no extension 1099; check the extension in your agent profile. "
                                   "(PBX: EXTENSION NOT EXIST, errcode 60003)")


def test_an_agent_without_an_extension_is_told_before_the_pbx_is_asked(set_up, desk):
    agent, conv = desk(extension=None)
    r = _call(agent, conv)
    assert r.status_code == 409 and "Your agent profile has no PBX extension" in r.json()["message"]
    assert set_up.requests == []


def test_wrong_credentials_are_named_and_never_shown(set_up, desk, monkeypatch):
    monkeypatch.setenv("TRAY_AGENT_SECRET_CALLS_YEASTAR_CLIENT_SECRET", "not-the-secret-0123456789")
    agent, conv = desk()
    r = _call(agent, conv)
    assert r.status_code == 409
    assert r.json()["message"].startswith("The PBX refused the API credentials (Client ID / Client Secret)")
    assert "not-the-secret" not in r.text and set_up.client_id not in r.text


def test_an_unreachable_pbx_is_a_failed_call_saying_so(set_up, desk, monkeypatch):
    monkeypatch.setenv("TRAY_AGENT_CALLS_YEASTAR_PBX_URL", "http://127.0.0.1:9")
    agent, conv = desk()
    r = _call(agent, conv)
    assert r.status_code == 409 and r.json()["message"].startswith("The PBX at http://127.0.0.1:9 cannot be reached")


def test_credentials_from_the_keyring_and_doctor_says_what_is_missing(pbx, desk, memory_keyring, monkeypatch):  # noqa: F811  (the fixture imported above)
    monkeypatch.setenv("TRAY_AGENT_CALLS_YEASTAR_PBX_URL", pbx.url)  # type: ignore[attr-defined]
    agent, conv = desk()
    handler = agent.app.call_handlers["yeastar"]
    assert not handler.available()
    assert handler.status() == "not set up: client_id is not in the keyring; client_secret is not in the keyring"
    memory_keyring.set_password("tray-agent", "calls.yeastar:client_id", pbx.client_id)
    memory_keyring.set_password("tray-agent", "calls.yeastar:client_secret", pbx.client_secret)
    assert handler.available() and handler.status() == f"PBX at {pbx.url}"  # type: ignore[attr-defined]
    assert _call(agent, conv).status_code == 200


def test_a_number_the_outbound_route_wants_without_plus_gets_the_prefix(set_up, desk, monkeypatch):
    monkeypatch.setenv("TRAY_AGENT_CALLS_YEASTAR_CALLEE_PREFIX", "9")
    agent, conv = desk()
    assert _call(agent, conv).status_code == 200
    assert set_up.dials[0]["callee"] == "914155550199"


def test_not_an_e164_number_is_refused_without_calling_the_pbx(set_up):
    from tray_agent_yeastar.handler import YeastarHandler

    with pytest.raises(TrayAgentError, match="is not an E.164 number"):
        YeastarHandler().call("0044 20 7946", "1005")


def test_set_up_and_call_from_the_cli_as_typed(pbx, memory_keyring, tmp_path, monkeypatch):  # noqa: F811  (the fixture imported above)
    from click.testing import CliRunner

    from tray_agent.app import App
    from tray_agent.cli import cli
    from tray_agent.paths import resolve

    monkeypatch.setenv("TRAY_AGENT_LOAD_PLUGINS", "yeastar,twilio")
    monkeypatch.setenv("TRAY_AGENT_CALLS_YEASTAR_RESULT_WAIT_SECONDS", "3")
    home = resolve(tmp_path / "home").ensure()
    app = App(home)
    cid = app.inbox.add_channel("sms", "Support SMS", "+14155550100", {"account_sid": "AC" + "0" * 32}).id
    app.inbox.receive(cid, InboundMessage("SM1", CUSTOMER, "please call me"))
    conv = app.inbox.list_inbox(app.agent.id).items[0].id
    app.close()

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), *args], input=input)

    out = run("call-handler", "set", "yeastar", "--set", f"pbx_url={pbx.url}", "--default",  # type: ignore[attr-defined]
              "--secret", f"client_id={pbx.client_id}", input=f"{pbx.client_secret}\n")
    assert out.exit_code == 0, out.output
    assert out.output.strip().endswith(f"call handler yeastar: ready — PBX at {pbx.url}; "  # type: ignore[attr-defined]
                                       "credentials stored: client_id, client_secret")
    saved = home.config_file.read_text()
    assert f'[calls.yeastar]\npbx_url = "{pbx.url}"' in saved and 'handler = "yeastar"' in saved  # type: ignore[attr-defined]
    assert pbx.client_secret not in saved and pbx.client_id not in saved
    assert memory_keyring.get_password("tray-agent", "calls.yeastar:client_secret") == pbx.client_secret

    out = run("call", str(conv))
    assert out.exit_code == 1 and "Your agent profile has no PBX extension" in out.output
    assert run("agent", "extension", "1005").output.strip().endswith("extension 1005")
    out = run("call", str(conv))
    assert out.exit_code == 0, out.output
    assert out.output.strip() == (f"Call to {CUSTOMER}: The PBX is ringing your extension 1005, then dials {CUSTOMER} "
                                  "(the customer's phone is ringing)")

    pbx.extensions["1005"] = Extension(outbound=False)
    out = run("call", str(conv))
    assert out.exit_code == 1
    assert out.output.strip().splitlines()[-1].endswith(
        "Your extension 1005 has no outbound call permission; ask the PBX administrator.")
    assert run("agent", "extension", "10-05").exit_code == 1


def test_no_token_or_credential_is_logged_at_any_level(set_up, desk, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    agent, conv = desk()
    assert _call(agent, conv).status_code == 200
    set_up.expire_tokens()  # a refresh and a retried socket too
    assert _call(agent, conv).status_code == 200
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "access_token=" in logged or "subscribe" in logged  # the requests were logged, redacted
    for secret in [set_up.client_id, set_up.client_secret, *set_up.issued]:
        assert secret not in logged
