"""Health belongs to the process that runs the channel: a second install on the same store
without the plugin does not overwrite it, and a report from a process that has stopped
shows as "not running" (in the store's view, `channel list` and `doctor`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from click.testing import CliRunner

from tray_agent.cli import cli
from tray_agent.cli.channels import health_state


def _env(world) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "TRAY_AGENT_DATABASE_URL": world.app.db.url, "TRAY_AGENT_LOAD_PLUGINS": "",
           "TRAY_AGENT_SANDBOX_MODE": "off"}
    env["TRAY_AGENT_HOME"] = str(world.app.paths.data.parent / "second-install")
    return env


def test_a_second_install_without_the_plugin_leaves_the_running_installs_health_alone(sqlite_world):
    w = sqlite_world
    assert w.inbox.set_channel_health(w.sms.id, True, "ok: account active")  # this process runs it
    second = subprocess.Popen([sys.executable, "-m", "tray_agent", "serve"], env=_env(w),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        while "Tray Agent is running at" not in line:
            line = second.stdout.readline()  # type: ignore[union-attr]
            assert line, "the second install exited"
        time.sleep(1.0)  # its runtime has started its (missing) adapters by now
    finally:
        second.terminate()
        second.wait(15)
    ch = w.inbox.get_channel(w.sms.id)
    assert (ch.healthy, ch.health_detail, ch.running) == (True, "ok: account active", True)


def test_a_report_from_a_process_that_stopped_shows_as_not_running(sqlite_world, monkeypatch):  # type: ignore[no-untyped-def]
    w = sqlite_world
    script = ("import sys; from tray_agent.core.db import Database; "
              "from tray_agent.core.models import Channel;"
              "from tray_agent.core import reporter; from datetime import datetime, timezone;"
              "db = Database(sys.argv[1]);"
              "s = db.write().__enter__(); ch = s.get(Channel, int(sys.argv[2]));"
              "ch.healthy, ch.health_detail, ch.health_by = True, 'ok', reporter.this_process();"
              "ch.health_at = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc); s.commit()")
    subprocess.run([sys.executable, "-c", script, w.app.db.url, str(w.sms.id)], check=True, timeout=60)
    ch = w.inbox.get_channel(w.sms.id)
    assert ch.healthy is True and ch.running is False
    monkeypatch.setenv("TRAY_AGENT_DATABASE_URL", w.app.db.url)
    report = json.loads(CliRunner().invoke(cli, ["doctor", "--json"], catch_exceptions=False).output)
    [sms] = [c for c in report["channels"] if c["id"] == w.sms.id]
    assert (sms["running"], sms["health_at"][:16]) == (False, "2026-12-01T09:30")
    assert report["running"] is None
    out = CliRunner().invoke(cli, ["doctor"], catch_exceptions=False).output
    assert "agent not running — the channels' health below is as last seen" in out
    assert health_state({**sms, "plugin_installed": True}) == "not running — health last seen at 2026-12-01 09:30 UTC"
    # Nothing runs it now: a process that cannot run it may say so.
    assert w.inbox.set_channel_health(w.sms.id, False, "plugin missing", runs=False)


def test_doctor_says_the_agent_is_running_with_its_pid(home, tmp_path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "TRAY_AGENT_SANDBOX_MODE": "off"}
    env.pop("TRAY_AGENT_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "tray_agent", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        while "Tray Agent is running at" not in line:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, "serve exited"
        url = line.split(" at ", 1)[1].split("/", 3)[:3]
        deadline = time.monotonic() + 20
        while not home.instance_file.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        out = CliRunner().invoke(cli, ["doctor"], catch_exceptions=False).output
        assert f"agent running (pid {proc.pid}) at {'/'.join(url)}/" in out
    finally:
        proc.terminate()
        proc.wait(15)
    assert "agent not running" in CliRunner().invoke(cli, ["doctor"], catch_exceptions=False).output
