"""``tray-agent server`` from its config file and the console, as the real CLI in processes:
``[server] database`` and ``[server] listen`` honoured (the default listen on loopback, 8700),
``--sandbox`` answering the sync API and taking a customer's text, and the console's agent,
queue and epoch commands — each exit 0 with its effect, a bad argument one line and exit 1."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.live import wait_for
from tests.server.test_server_cli import run, serving, wait_up
from tray_agent.config import load
from tray_agent.core.models import Agent
from tray_agent.net import free_port
from tray_agent.paths import resolve
from tray_agent.sandbox.client import SandboxAdmin
from tray_agent.server.runner import build_app, parse_listen

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CUSTOMER = "+14155550177"


def configured(home: Path, database_url: str, listen: str, sandbox_port: int = 0) -> None:
    paths = resolve(home).ensure()
    paths.config_file.write_text(f'[server]\ndatabase = "{database_url}"\nlisten = "{listen}"\n\n'
                                 f"[sandbox]\nport = {sandbox_port}\n")


def one_line_refusal(out: subprocess.CompletedProcess[str], *words: str) -> None:
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for w in words:
        assert w in out.stderr, out.stderr


def console(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``tray-agent server ARGS`` with the database from the config file (no --database)."""
    return run(home, "server", *args, check=check)


def test_the_default_listen_is_loopback_port_8700(tmp_path: Path):
    cfg = load(resolve(tmp_path / "home").ensure(), environ={})
    assert cfg.server.listen == "127.0.0.1:8700" and cfg.server.database == ""
    assert parse_listen(cfg.server.listen) == ("127.0.0.1", 8700)


def test_the_sandbox_server_from_its_config_file_answers_and_takes_a_customers_text(tmp_path: Path,
                                                                                    postgres_db_url: str):
    home, port, sandbox_port = tmp_path / "home", free_port(), free_port()
    configured(home, postgres_db_url, f"127.0.0.1:{port}", sandbox_port)
    added = json.loads(console(home, "agent", "add", "--name", "Zoe", "--email", "zoe@example.com",
                               "--extension", "1005", "--json").stdout)
    url = f"http://127.0.0.1:{port}"
    with serving(home, "--sandbox") as proc:  # neither --database nor --listen: the config file's
        wait_up(url, proc)
        with httpx.Client(base_url=url, timeout=30) as c:
            r = c.post("/sync/v1/sign-in", json={"code": added["code"], "device_name": "Zoe's laptop"})
            assert r.status_code == 201, r.text
            c.headers["Authorization"] = f"Bearer {r.json()['token']}"
            assert c.get("/sync/v1/me").json()["name"] == "Zoe"
            channels = {ch["name"]: ch for ch in c.get("/sync/v1/snapshot").json()["channels"]}
            assert {"Sandbox SMS", "Sandbox WhatsApp"} <= set(channels)
            sandbox = SandboxAdmin(f"http://127.0.0.1:{sandbox_port}")
            try:
                sandbox.customer_sends("sms", CUSTOMER, "Hello from the sandbox")
            finally:
                sandbox.close()

            def arrived() -> list[dict[str, Any]]:
                snap = c.get("/sync/v1/snapshot").json()
                return [x for x in snap["conversations"] if x["last_message_preview"] == "Hello from the sandbox"]
            conv = wait_for(arrived, timeout=30, what="the sandbox customer's text in Zoe's snapshot")[0]
            assert conv["channel_id"] == channels["Sandbox SMS"]["id"]
    assert proc.returncode == 0
    err = proc.stderr.read() if proc.stderr else ""
    assert f"Tray Agent team server on {url}" in err and added["code"] not in err


def test_the_consoles_agent_queue_and_epoch_commands(tmp_path: Path, postgres_db_url: str):
    home, port = tmp_path / "home", free_port()
    configured(home, postgres_db_url, f"127.0.0.1:{port}")
    zoe = json.loads(console(home, "agent", "add", "--name", "Zoe", "--email", "zoe@example.com", "--extension",
                             "1005", "--json").stdout)
    yan = json.loads(console(home, "agent", "add", "--name", "Yan", "--email", "yan@example.com", "--json").stdout)
    zoe_id, yan_id = zoe["agent"]["id"], yan["agent"]["id"]
    listed = console(home, "agent", "list").stdout.splitlines()
    assert listed == [f"{yan_id}\tYan\tyan@example.com\tagent", f"{zoe_id}\tZoe\tzoe@example.com\tagent"]
    assert [a["name"] for a in json.loads(console(home, "agent", "list", "--json").stdout)] == ["Yan", "Zoe"]
    console(home, "queue", "add", "--name", "Sales", "--member", str(zoe_id))
    queue_id = json.loads(console(home, "queue", "list", "--json").stdout)[0]["id"]
    url = f"http://127.0.0.1:{port}"
    with serving(home) as proc:
        wait_up(url, proc)
        # A second code for Zoe (a second desktop): it signs in; the first one still does once.
        code = json.loads(console(home, "agent", "code", str(zoe_id), "--json").stdout)["code"]
        with httpx.Client(base_url=url, timeout=30) as c:
            for one in (code, zoe["code"]):
                r = c.post("/sync/v1/sign-in", json={"code": one, "device_name": "Zoe's phone"})
                assert r.status_code == 201, r.text
            assert c.post("/sync/v1/sign-in", json={"code": code, "device_name": "again"}).status_code == 401
            c.headers["Authorization"] = f"Bearer {r.json()['token']}"
            assert c.get("/sync/v1/snapshot", params={"limit": 1}).json()["my_queue_ids"] == [queue_id]
            members = console(home, "queue", "members", str(queue_id), str(yan_id))
            assert members.stdout.strip() == "Queue Sales: 1 members."
            assert json.loads(console(home, "queue", "list", "--json").stdout)[0]["member_ids"] == [yan_id]
            assert c.get("/sync/v1/snapshot", params={"limit": 1}).json()["my_queue_ids"] == []
            cursor = c.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"]
            epoch = console(home, "new-epoch")
            assert "every desktop will resync" in epoch.stdout

            def resync() -> bool:
                r = c.get("/sync/v1/events", params={"since": cursor})
                return r.status_code == 410 and r.json()["error"] == "must_resync"
            wait_for(resync, timeout=20, what="the old cursor refused after new-epoch")
    assert proc.returncode == 0
    app = build_app(resolve(tmp_path / "reader").ensure(), load(resolve(tmp_path / "reader").ensure(), environ={}),
                    postgres_db_url)
    try:
        with app.db.read() as s:
            assert s.get_one(Agent, zoe_id).extension == "1005"
    finally:
        app.close()
    audit = console(home, "audit").stdout
    assert all(a in audit for a in ("agent.added", "code.issued", "queue.members", "epoch.renewed"))


def test_bad_arguments_are_one_line_and_exit_1(tmp_path: Path, postgres_db_url: str):
    home = tmp_path / "home"
    configured(home, postgres_db_url, "127.0.0.1:8799")
    zoe = json.loads(console(home, "agent", "add", "--name", "Zoe", "--email", "zoe@example.com", "--json").stdout)
    console(home, "queue", "add", "--name", "Sales")
    queue_id = json.loads(console(home, "queue", "list", "--json").stdout)[0]["id"]
    one_line_refusal(console(home, "agent", "add", "--name", "Ann", "--email", "ann@example.com",
                             "--extension", "12; call 900", check=False), "extension", "digits only")
    one_line_refusal(console(home, "agent", "add", "--name", "Zed", "--email", "zoe@example.com", check=False),
                     "zoe@example.com")
    one_line_refusal(console(home, "agent", "code", "9999", check=False), "9999")
    one_line_refusal(console(home, "queue", "members", "9999", str(zoe["agent"]["id"]), check=False), "9999")
    one_line_refusal(console(home, "queue", "members", str(queue_id), "8888", check=False), "8888")
    one_line_refusal(run(home, "server", "--listen", "nowhere", check=False), "host:port")
    # Nothing of the refused ones was made.
    assert [a["name"] for a in json.loads(console(home, "agent", "list", "--json").stdout)] == ["Zoe"]
    # Without a database in the config file the console says so in one line.
    bare = tmp_path / "bare"
    for args in (["agent", "list"], ["new-epoch"]):
        one_line_refusal(run(bare, "server", *args, check=False), "PostgreSQL")


def test_an_event_log_retention_under_a_day_is_refused_in_one_line(tmp_path: Path, postgres_db_url: str):
    home = tmp_path / "home"
    configured(home, postgres_db_url, "127.0.0.1:8799")
    paths = resolve(home)
    paths.config_file.write_text(paths.config_file.read_text().replace("[server]\n", "[server]\nkeep_events_days = 0\n"))
    one_line_refusal(run(home, "server", check=False), "keep_events_days", "at least 1 day")
