"""``tray-agent server`` as an administrator runs it: PostgreSQL only, agents and their
one-time codes from the console, the server process on its address (plain or TLS), devices
listed and revoked."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tray_agent.net import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRAY_AGENT_HOME": str(home)}
    env.pop("TRAY_AGENT_SERVER_DATABASE", None)
    out = subprocess.run([sys.executable, "-m", "tray_agent", *args], capture_output=True, text=True,
                         env=env, timeout=120)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@contextmanager
def serving(home: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "TRAY_AGENT_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "tray_agent", "server", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def wait_up(url: str, proc: subprocess.Popen[str], **kw: object) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            httpx.get(f"{url}/sync/v1/me", timeout=2, **kw)  # type: ignore[arg-type]
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer within 60 s")


def test_sqlite_and_a_missing_database_are_refused_in_one_line(tmp_path: Path):
    for args in (["server", "--database", f"sqlite:///{tmp_path}/x.db"], ["server"],
                 ["server", "--database", "mysql://root@localhost/x"]):
        out = run(tmp_path / "home", *args, check=False)
        assert out.returncode == 1 and out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1 and "PostgreSQL" in out.stderr


def test_an_admin_adds_an_agent_who_signs_in_then_the_device_is_revoked(tmp_path: Path, postgres_db_url: str):
    home = tmp_path / "home"
    added = run(home, "server", "--database", postgres_db_url, "agent", "add", "--name", "Zoe",
                "--email", "zoe@example.com", "--admin", "--json")
    code = json.loads(added.stdout)["code"]
    assert json.loads(added.stdout)["agent"]["role"] == "admin"
    agent_id = json.loads(added.stdout)["agent"]["id"]
    run(home, "server", "--database", postgres_db_url, "queue", "add", "--name", "Sales", "--member", str(agent_id),
        "--pickup", "manual")
    queues = json.loads(run(home, "server", "--database", postgres_db_url, "queue", "list", "--json").stdout)
    assert [(q["name"], q["pickup_mode"], q["member_ids"]) for q in queues] == [("Sales", "manual", [agent_id])]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(home, "--database", postgres_db_url, "--listen", f"127.0.0.1:{port}") as proc:
        wait_up(url, proc)
        r = httpx.post(f"{url}/sync/v1/sign-in", json={"code": code, "device_name": "Zoe's laptop"})
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        assert httpx.get(f"{url}/sync/v1/me", headers=auth).json()["role"] == "admin"
        devices = json.loads(run(home, "server", "--database", postgres_db_url, "device", "list", "--json").stdout)
        assert [(d["name"], d["revoked_at"]) for d in devices] == [("Zoe's laptop", None)]
        run(home, "server", "--database", postgres_db_url, "device", "revoke", str(devices[0]["id"]))
        assert httpx.get(f"{url}/sync/v1/me", headers=auth).status_code == 401
    assert proc.returncode == 0
    audit = run(home, "server", "--database", postgres_db_url, "audit").stdout
    assert all(a in audit for a in ("agent.added", "queue.added", "device.signed_in", "device.revoked"))
    # The code and the token never reach the server's output.
    assert code not in (proc.stderr.read() if proc.stderr else "")


def test_the_server_serves_tls_from_a_certificate_and_key(tmp_path: Path, postgres_db_url: str):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    home = tmp_path / "home"
    port = free_port()
    with serving(home, "--database", postgres_db_url, "--listen", f"127.0.0.1:{port}",
                 "--cert", str(cert), "--key", str(key)) as proc:
        trust = ssl.create_default_context(cafile=str(cert))
        wait_up(f"https://127.0.0.1:{port}", proc, verify=trust)
        r = httpx.get(f"https://127.0.0.1:{port}/sync/v1/me", verify=trust)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    half = run(home, "server", "--database", postgres_db_url, "--cert", str(cert), check=False)
    assert half.returncode == 1 and "both a certificate" in half.stderr


def test_listening_beyond_loopback_without_tls_warns_that_tokens_would_cross_in_clear(tmp_path: Path,
                                                                                      postgres_db_url: str):
    port = free_port()
    with serving(tmp_path / "home", "--database", postgres_db_url, "--listen", f"0.0.0.0:{port}") as proc:
        wait_up(f"http://127.0.0.1:{port}", proc)
    err = proc.stderr.read() if proc.stderr else ""
    assert "warning: listening beyond loopback without TLS" in err and proc.returncode == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_the_server_stops_cleanly_on_each_stop_signal(tmp_path: Path, postgres_db_url: str, sig: signal.Signals):
    """A service manager's SIGTERM, Ctrl+C, or the terminal it runs in being closed: the
    server stops, exits 0 and prints no traceback."""
    port = free_port()
    env = {**os.environ, "TRAY_AGENT_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "tray_agent", "server", "--database", postgres_db_url,
                             "--listen", f"127.0.0.1:{port}"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_up(f"http://127.0.0.1:{port}", proc)
        proc.send_signal(sig)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/sync/v1/me", timeout=2)
