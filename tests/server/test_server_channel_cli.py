"""``tray-agent server channel ...`` as an administrator runs it at the server's console: the
credential asked for hidden goes to the keyring (never to the screen, the logs or the audit
log), the channel routes its customers to a queue on the running server, auto-closure where
the channel's rules allow it, list, disable and remove; bad input is one line and exit 1."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from click.testing import CliRunner, Result

from tests.channels.keyring_memory import MemoryKeyring, installed
from tests.server.live import ServerThread
from tray_agent import config
from tray_agent.cli import cli
from tray_agent.channels import InboundMessage
from tray_agent.core.errors import RuleViolation
from tray_agent.core.models import Conversation, Message
from tray_agent.net import free_port
from tray_agent.paths import resolve
from tray_agent.sandbox.webhooks import twilio_signature
from tray_agent.server.runner import TeamServer, build_app

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECRET = "3f9c1d7e5b2a4c6e8f0a1b2c3d4e5f60"
SID = "AC" + "7" * 32
Run = Callable[..., Result]


@pytest.fixture
def ring() -> Iterator[MemoryKeyring]:
    with installed() as kr:
        yield kr


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TRAY_AGENT_HOME", str(home))
    for var in ("TRAY_AGENT_SERVER_DATABASE", "TRAY_AGENT_DATABASE_URL", "TRAY_AGENT_LOAD_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def console(home: Path, postgres_db_url: str, ring: MemoryKeyring) -> Run:
    """``tray-agent server --database URL ...`` in this process (so it sees the tests' keyring)."""

    def run(*args: str, input: str | None = None, ok: bool = True) -> Result:
        r = CliRunner().invoke(cli, ["server", "--database", postgres_db_url, *args], input=input,
                               catch_exceptions=False)
        if ok:
            assert r.exit_code == 0, r.output
        return r

    return run


def one_line_refusal(r: Result, *words: str) -> None:
    assert r.exit_code == 1, r.output
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r.output
    for w in words:
        assert w in r.stderr, r.stderr


def team(console: Run) -> tuple[int, int]:
    """An admin and a queue (Sales, with Yan in it): their ids."""
    admin = json.loads(console("agent", "add", "--name", "Zoe", "--email", "zoe@example.com", "--admin",
                               "--json").stdout)["agent"]["id"]
    yan = json.loads(console("agent", "add", "--name", "Yan", "--email", "yan@example.com", "--json").stdout)
    console("queue", "add", "--name", "Sales", "--member", str(yan["agent"]["id"]))
    return admin, json.loads(console("queue", "list", "--json").stdout)[0]["id"]


def add_sms(console: Run, *extra: str, name: str = "Shop SMS", ok: bool = True) -> Result:
    return console("channel", "add", "sms", "--name", name, "--address", "+1 (415) 555-0100",
                   "--set", f"account_sid={SID}", "--set", "poll=off", "--set", "api_base=http://127.0.0.1:9",
                   "--credential", "auth_token", *extra, input=SECRET + "\n", ok=ok)


def test_a_credential_asked_for_goes_to_the_keyring_and_routes_customers_to_the_queue(
        console: Run, ring: MemoryKeyring, home: Path, postgres_db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _, sales = team(console)
    added = add_sms(console, "--route-queue", str(sales), "--auto-close-hours", "12")
    assert ring.store[("tray-agent", "Shop SMS:auth_token")] == SECRET
    assert "Added: 1\tShop SMS\tSMS +14155550100\tenabled\t-> queue Sales (1)" in added.stdout
    assert "idle close after 12 h" in added.stdout and "auth_token: keyring" in added.stdout
    listed = console("channel", "list", "--json").stdout
    channel = json.loads(listed)[0]
    assert (channel["route_queue_id"], channel["auto_close_seconds"]) == (sales, 12 * 3600)
    assert {c["name"]: c["source"] for c in channel["credentials"]} == {"auth_token": "keyring"}
    audit = console("audit", "--action", "channel.added", "--json").stdout
    entry = json.loads(audit)[0]
    assert (entry["actor"], entry["target"]) == ("console", "channel:1")
    assert entry["detail"]["credentials"] == {"auth_token": "keyring"}
    assert entry["detail"]["route_queue_id"] == sales and entry["detail"]["auto_close_seconds"] == 43200

    # The running server reads the credential from the keyring: a webhook Twilio signs with it
    # is taken, and its customer's conversation lands in the Sales queue.
    paths = resolve(home).ensure()
    app = build_app(paths, config.load(paths), postgres_db_url)
    srv = TeamServer(app, host="127.0.0.1", port=free_port("127.0.0.1"))
    thread = ServerThread(srv).start()
    try:
        hook = f"{srv.url}/webhooks/1/inbound"
        form = [("MessageSid", "SM" + "1" * 32), ("AccountSid", SID), ("From", "+14155550177"),
                ("To", "+14155550100"), ("Body", "Is my order on its way?"), ("NumMedia", "0")]
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        forged = httpx.post(hook, content=urlencode(form), headers={
            **headers, "X-Twilio-Signature": twilio_signature("not-the-token-0123", hook, form)})
        assert forged.status_code == 403
        r = httpx.post(hook, content=urlencode(form), headers={
            **headers, "X-Twilio-Signature": twilio_signature(SECRET, hook, form)})
        assert r.status_code == 200, r.text
        with app.db.read() as s:
            conversations = s.query(Conversation).all()
        assert [(c.customer_address, c.queue_id) for c in conversations] == [("+14155550177", sales)]
    finally:
        thread.stop()
        app.close()

    seen = added.output + listed + audit + caplog.text
    seen += "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file() and p.suffix != ".db")
    assert SECRET not in seen


def test_auto_closure_is_set_where_the_rules_allow_it_and_refused_where_not(
        console: Run, ring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    team(console)
    wa = ["channel", "add", "whatsapp", "--name", "Shop WhatsApp", "--address", "+14155550101",
          "--set", "phone_number_id=1234567890", "--no-prompt"]
    for key in ("access_token", "app_secret"):
        wa += ["--from-env", key]
    # A credential not named whose variable is set is read from it, not asked for.
    monkeypatch.setenv("TRAY_AGENT_SECRET_SHOP_WHATSAPP_VERIFY_TOKEN", "verify-me-please")
    one_line_refusal(console(*wa, "--auto-close-hours", "2", ok=False), "its own rule")
    added = json.loads(console(*wa, "--json").stdout)
    sources = {c["name"]: (c["source"], c["env"]) for c in added["credentials"]}
    assert sources["access_token"] == ("missing", "TRAY_AGENT_SECRET_SHOP_WHATSAPP_ACCESS_TOKEN")
    assert sources["verify_token"] == ("environment", "TRAY_AGENT_SECRET_SHOP_WHATSAPP_VERIFY_TOKEN")
    audited = json.loads(console("audit", "--action", "channel.added", "--json").stdout)[0]["detail"]["credentials"]
    assert audited == {"access_token": "environment", "app_secret": "environment", "verify_token": "environment"}
    one_line_refusal(console("channel", "set", str(added["id"]), "--auto-close-hours", "3", ok=False), "its own rule")
    assert ring.store == {}  # nothing was asked for, nothing stored
    monkeypatch.setenv("TRAY_AGENT_SECRET_SHOP_WHATSAPP_ACCESS_TOKEN", "EAAG-from-the-unit-file")
    shown = console("channel", "list").stdout
    assert "access_token: environment (TRAY_AGENT_SECRET_SHOP_WHATSAPP_ACCESS_TOKEN)" in shown
    assert "idle close after 24 h (the channel's own rule)" in shown and "EAAG-from-the-unit-file" not in shown

    sms = json.loads(add_sms(console, "--json").stdout)
    assert sms["auto_close_seconds"] is None
    assert json.loads(console("channel", "set", str(sms["id"]), "--auto-close-hours", "1.5",
                              "--json").stdout)["auto_close_seconds"] == 5400
    assert json.loads(console("channel", "set", str(sms["id"]), "--auto-close-hours", "off",
                              "--json").stdout)["auto_close_seconds"] is None
    for bad in ("soon", "0", "-4", "nan"):
        one_line_refusal(console("channel", "set", str(sms["id"]), "--auto-close-hours", bad, ok=False), "hours")
    changes = [r["detail"] for r in json.loads(console("audit", "--action", "channel.updated", "--json").stdout)]
    assert changes == [{"auto_close_seconds": None}, {"auto_close_seconds": 5400}]


def test_list_disable_route_and_bad_input(console: Run, ring: MemoryKeyring) -> None:
    admin, sales = team(console)
    add_sms(console)
    off = console("channel", "set", "1", "--disable").stdout
    assert "\tdisabled\t" in off
    assert json.loads(console("channel", "list", "--json").stdout)[0]["enabled"] is False
    to_agent = json.loads(console("channel", "set", "1", "--enable", "--route-agent", str(admin), "--json").stdout)
    assert (to_agent["enabled"], to_agent["route_agent_id"], to_agent["route_queue_id"]) == (True, admin, None)
    # One route at a time, as in the admin view: a queue replaces the agent; --no-route clears it.
    to_queue = json.loads(console("channel", "set", "1", "--route-queue", str(sales), "--json").stdout)
    assert (to_queue["route_agent_id"], to_queue["route_queue_id"]) == (None, sales)
    assert "-> no queue or agent" in console("channel", "set", "1", "--no-route").stdout
    audit = [r["detail"] for r in json.loads(console("audit", "--action", "channel.updated", "--json").stdout)]
    assert audit[-1] == {"enabled": False} and {"enabled": True, "route_queue_id": None,
                                                   "route_agent_id": admin} in audit
    # A new credential, asked for hidden, replaces the stored one (audited without its value).
    console("channel", "set", "1", "--credential", "auth_token", input="rotated-token-0987\n")
    assert ring.store[("tray-agent", "Shop SMS:auth_token")] == "rotated-token-0987"
    assert "rotated-token-0987" not in console("audit", "--json").stdout

    refusals = {
        ("channel", "set", "99", "--disable"): "no channel 99",
        ("channel", "set", "1", "--route-queue", "99"): "no queue 99",
        ("channel", "set", "1", "--route-queue", str(sales), "--no-route"): "one of",
        ("channel", "set", "1"): "Say what to change",
        ("channel", "set", "1", "--credential", "password"): "no credential password",
        ("channel", "add", "pigeon", "--name", "P", "--address", "x", "--credential", "k"): "no channel type 'pigeon'",
        ("channel", "add", "sms", "--name", "Shop SMS", "--address", "+14155550100", "--from-env", "auth_token"):
            "exists already",
        ("channel", "add", "sms", "--name", "Quiet", "--address", "+14155550102", "--no-prompt"): "needs auth_token",
        # Refused before the credential is asked for.
        ("channel", "add", "sms", "--name", "Late", "--address", "+14155550104", "--credential", "auth_token",
         "--auto-close-hours", "soon"): "hours",
        ("channel", "add", "sms", "--name", "Odd", "--address", "+14155550105", "--credential", "auth_token",
         "--set", "poll"): "NAME=VALUE",
        ("channel", "add", "sms", "--name", "Both", "--address", "+14155550103", "--route-queue", str(sales),
         "--route-agent", str(admin)): "not both",
    }
    for args, words in refusals.items():
        one_line_refusal(console(*args, ok=False), words)
    assert ring.store == {("tray-agent", "Shop SMS:auth_token"): "rotated-token-0987"}
    assert [c["name"] for c in json.loads(console("channel", "list", "--json").stdout)] == ["Shop SMS"]


def test_remove_deletes_an_unused_channel_and_keeps_one_with_history_readable(
        console: Run, ring: MemoryKeyring, home: Path, postgres_db_url: str) -> None:
    admin, sales = team(console)
    add_sms(console, name="Spare SMS")
    used = json.loads(add_sms(console, "--route-queue", str(sales), "--json").stdout)["id"]
    removed = console("channel", "remove", "1")
    assert removed.stdout.startswith("Removed: 1\tSpare SMS") and ("tray-agent", "Spare SMS:auth_token") not in ring.store
    # Customers wrote on the other: one conversation closed, one still open.
    paths = resolve(home).ensure()
    app = build_app(paths, config.load(paths), postgres_db_url)
    try:
        first = app.inbox.receive(used, InboundMessage("SM" + "1" * 32, "+14155550177", "old question"))
        with app.db.read() as s:
            done = s.get_one(Message, first).conversation_id
        app.inbox.claim(admin, done)
        app.inbox.close(admin, done)
        app.inbox.receive(used, InboundMessage("SM" + "2" * 32, "+14155550178", "still waiting"))
    finally:
        app.close()
    one_line_refusal(console("channel", "remove", str(used), ok=False), "1 open conversation", "(--force)")
    assert json.loads(console("channel", "list", "--json").stdout)[0]["enabled"] is True
    stopped = json.loads(console("channel", "remove", str(used), "--force", "--json").stdout)
    assert (stopped["deleted"], stopped["conversations"], stopped["open"]) == (False, 2, 1)
    assert ring.store == {}  # its credential left the keyring with it
    # Kept, disabled: both conversations and their messages stay readable; nothing goes out on it.
    app = build_app(paths, config.load(paths), postgres_db_url)
    try:
        [ch] = app.inbox.list_channels(include_disabled=True)
        assert (ch.id, ch.enabled) == (used, False)
        with app.db.read() as s:
            texts = sorted(m.text for m in s.query(Message).filter(Message.direction == "in"))
            still = s.query(Conversation).filter(Conversation.status == "open").one()
        assert texts == ["old question", "still waiting"]
        assert app.inbox.get_conversation(admin, done).status == "closed"
        with pytest.raises(RuleViolation, match="disabled"):
            app.inbox.reply(admin, still.id, "hello?")
    finally:
        app.close()
    audit = json.loads(console("audit", "--action", "channel.removed", "--json").stdout)
    assert [(a["target"], a["detail"]["deleted"], a["detail"]["force"]) for a in audit] == [
        (f"channel:{used}", False, True), ("channel:1", True, False)]
    one_line_refusal(console("channel", "remove", "99", ok=False), "no channel 99")
    assert "--force" in console("channel", "remove", "--help").stdout
