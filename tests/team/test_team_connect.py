"""`tray-agent connect` signs in with the one-time code and keeps the device token in the
keyring only; `disconnect` forgets it and the cache, leaving the single-desktop store as it
was; a certificate this computer does not trust is one clear line unless `--ca` names its CA;
`doctor` shows the server, the agent, the connection and the cursor."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from tray_agent.app import App
from tray_agent.config import load
from tray_agent.desktop.instance import write_info
from tray_agent.net import free_port
from tray_agent.paths import resolve
from tray_agent.plugins import PluginHost
from tray_agent.server.runner import TeamServer, Tls
from tests.channels.keyring_memory import MemoryKeyring
from tests.server.live import CONSOLE_ACTOR, ServerThread, Team
from tests.support import FakeChannels
from tests.team.desktop import connect, run_cli, wait_for


def test_connect_keeps_the_token_in_the_keyring_and_disconnect_leaves_my_own_data(
        team: Team, tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "doctor").exit_code == 0  # a single desktop first: its own store
    paths = resolve(home)
    own = hashlib.sha256(paths.database.read_bytes()).hexdigest()
    r = connect(team, "Alice", home)
    assert r.exit_code == 0, r.output
    assert "Connected to" in r.output and "Alice" in r.output
    (token,) = memory_keyring.store.values()
    config = paths.config_file.read_text()
    assert team.url in config and token not in config
    assert paths.team_cache.exists()
    report = json.loads(run_cli(home, "doctor", "--json").output)["team"]
    assert report["mode"] == "team" and report["server"] == team.url
    assert report["agent"]["name"] == "Alice" and report["state"] == "not running" and report["pending"] == 0
    text = run_cli(home, "doctor").output
    assert f"team server: {team.url} as Alice" in text and "sync cursor: none yet" in text
    r = run_cli(home, "disconnect")
    assert r.exit_code == 0 and "works alone again" in r.output
    assert memory_keyring.store == {}
    assert not paths.team_cache.exists() and team.url not in paths.config_file.read_text()
    assert hashlib.sha256(paths.database.read_bytes()).hexdigest() == own
    assert json.loads(run_cli(home, "doctor", "--json").output)["team"]["mode"] == "local"


def test_a_wrong_code_is_one_line_and_changes_nothing(team: Team, tmp_path: Path,
                                                      memory_keyring: MemoryKeyring) -> None:
    home = tmp_path / "home"
    r = run_cli(home, "connect", team.url, "--code", "AAAAA-BBBBB-CCCCC-DDDDD")
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "refused the sign-in" in r.output, r.output
    assert memory_keyring.store == {} and not resolve(home).team_cache.exists()
    r = run_cli(home, "connect", "ftp://team", "--code", "x")
    assert r.exit_code == 1 and "not a server address" in r.output


def test_without_a_keyring_connect_says_so_and_the_code_stays_good(team: Team, tmp_path: Path,
                                                                   memory_keyring: MemoryKeyring) -> None:
    """The code is one-time: it must not be spent on a token this computer could not keep."""
    home = tmp_path / "home"
    code = team.accounts.issue_code(CONSOLE_ACTOR, team.agents["Alice"].id)
    keyring.set_keyring(fail.Keyring())  # a desktop with no OS keyring (the fixture puts its own back)
    r = run_cli(home, "connect", team.url, "--code", code)
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert "keyring cannot keep the device token" in r.output and "still valid" in r.output
    assert not resolve(home).team_cache.exists()
    keyring.set_keyring(memory_keyring)  # unlocked or installed: the same code now works
    r = run_cli(home, "connect", team.url, "--code", code)
    assert r.exit_code == 0, r.output
    assert len(memory_keyring.store) == 1


@pytest.fixture(scope="module")
def tls_replica(team: Team, module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A replica of the team's server serving TLS itself, with a self-signed certificate
    (its own CA, trusted by nobody unless told)."""
    prefix = tmp_path_factory.mktemp("tls")
    cert, key = prefix / "cert.pem", prefix / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    paths = resolve(prefix / "home").ensure()
    cfg = load(paths, environ={})
    cfg.database.url, cfg.sandbox.mode = module_db, "off"
    host = PluginHost()
    host.register(FakeChannels(), name="fake_channels")
    app = App(paths, cfg, clock=team.clock, plugins=host, load_entry_points=False)
    srv = TeamServer(app, host="127.0.0.1", port=free_port("127.0.0.1"), tls=Tls(cert, key))
    thread = ServerThread(srv).start()
    try:
        yield srv.url, cert
    finally:
        thread.stop()
        app.close()


def test_an_untrusted_certificate_is_refused_in_one_line_and_ca_trusts_it(
        team: Team, tls_replica: tuple[str, Path], tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    url, cert = tls_replica
    home = tmp_path / "home"
    r = connect(team, "Carl", home, url)
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert "not trusted" in r.output and "--ca FILE" in r.output
    assert memory_keyring.store == {}
    r = connect(team, "Carl", home, url, "--ca", str(cert))
    assert r.exit_code == 0, r.output
    assert str(cert) in resolve(home).config_file.read_text()


def test_doctor_shows_the_running_desktop_online_with_its_cursor(team: Team, desktops, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alice = desktops("Alice")
    wait_for(lambda: alice.connection()["state"] == "online", what="Alice online")
    # doctor finds the running daemon through its instance file, as the tray's would be found.
    write_info(alice.paths.instance_file, url=alice.thread.url)
    report = json.loads(run_cli(alice.home, "doctor", "--json").output)["team"]
    assert report["state"] == "online" and report["cursor"] and report["cursor"].count(":") == 1
    assert report["agent"]["name"] == "Alice"
