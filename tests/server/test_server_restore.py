"""A database restored from a backup is another epoch: a desktop's cursor from before the
restore is told must_resync, with no administrator step needed."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tray_agent.app import App
from tray_agent.config import load
from tray_agent.paths import resolve
from tray_agent.plugins import PluginHost
from tray_agent.server.runner import TeamServer
from tray_agent.net import free_port
from tests.server.live import START, ServerThread, team_server
from tests.support import FakeChannels
from tray_agent.core.clock import FrozenClock

pytestmark = pytest.mark.postgres


def test_a_cursor_from_before_a_restore_must_resync(tmp_path: Path, postgres_server, postgres_db_url: str,  # type: ignore[no-untyped-def]
                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRAY_AGENT_HOME", str(tmp_path / "a"))
    with team_server(tmp_path / "a", postgres_db_url) as team:
        team.customer_says("before the backup")
        with team.http("Alice") as c:
            old = c.get("/sync/v1/snapshot").json()["cursor"]
        token = team.tokens["Alice"]
    dump = tmp_path / "backup.dump"
    pg = dict(host=postgres_server.host, port=str(postgres_server.port))
    source = postgres_db_url.rsplit("/", 1)[1]
    subprocess.run([str(postgres_server.bindir / "pg_dump"), "-h", pg["host"], "-p", pg["port"], "-U", "postgres",
                    "-Fc", "-f", str(dump), source], check=True, capture_output=True)
    restored = f"r_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(restored)
    try:
        subprocess.run([str(postgres_server.bindir / "pg_restore"), "-h", pg["host"], "-p", pg["port"], "-U", "postgres",
                        "-d", restored, str(dump)], check=True, capture_output=True)
        paths = resolve(tmp_path / "b").ensure()
        cfg = load(paths, environ={})
        cfg.database.url, cfg.sandbox.mode = url, "off"
        host = PluginHost()
        host.register(FakeChannels(), name="fake_channels")
        app = App(paths, cfg, clock=FrozenClock(START), plugins=host, load_entry_points=False)
        thread = ServerThread(TeamServer(app, host="127.0.0.1", port=free_port())).start()
        try:
            with httpx.Client(base_url=thread.server.url, headers={"Authorization": f"Bearer {token}"}) as c:
                # The device is in the backup, so it still signs in; its cursor is not served.
                r = c.get("/sync/v1/events", params={"since": old, "wait": 0})
                assert r.status_code == 410 and r.json()["error"] == "must_resync"
                fresh = c.get("/sync/v1/snapshot").json()
                assert fresh["cursor"] != old and fresh["conversations"][0]["last_message_preview"] == "before the backup"
                assert c.get("/sync/v1/events", params={"since": fresh["cursor"], "wait": 0}).status_code == 200
        finally:
            thread.stop()
            app.close()
    finally:
        postgres_server.drop_database(restored)
