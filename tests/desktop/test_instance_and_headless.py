"""One daemon per user, and a daemon that never needs a desktop: with no display, no
tray host or no notification server it keeps serving and receiving, and says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.desktop.conftest import daemon_env, tray_window, window_toplevel

pytestmark = pytest.mark.desktop

ALICE = "+14155550123"
BARE_BUS = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir={dir}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""
TRAY_AGENT = str(Path(sys.executable).with_name("tray-agent"))


def _cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRAY_AGENT, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _headless(env: dict[str, str], home: Path) -> dict[str, str]:
    # No display, and no session bus to fall back on (not even $XDG_RUNTIME_DIR/bus).
    return daemon_env(env, home, DISPLAY=None, WAYLAND_DISPLAY=None,
                      DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent/tray-agent-test-bus")


def test_second_launch_brings_up_the_first_ones_window_and_exits(desktop_env, desktop, start_daemon, scratch):
    home = scratch / "home"
    first = start_daemon(desktop_env, home=home)
    t0 = time.monotonic()
    second = _cli(daemon_env(desktop_env, home))
    assert second.returncode == 0, second.stderr
    assert time.monotonic() - t0 < 10
    assert f"already running (pid {first.proc.pid}); brought up its window" in second.stdout
    window_toplevel(desktop)
    assert first.status()["window"]["open"]
    assert first.proc.poll() is None
    assert json.loads((home / "run" / "instance.json").read_text())["pid"] == first.proc.pid


def test_a_crashed_daemon_leaves_no_stale_lock(desktop_env, start_daemon, scratch):
    home = scratch / "home"
    d = start_daemon(desktop_env, home=home)
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait(10)
    assert (home / "run" / "instance.json").exists()  # left behind ...
    again = start_daemon(desktop_env, home=home)  # ... but the kernel released the lock
    assert again.info["pid"] == again.proc.pid


def test_headless_daemon_keeps_receiving_and_logs_what_it_would_notify(desktop_env, start_daemon, scratch):
    home = scratch / "home"
    env = _headless(desktop_env, home)
    d = start_daemon(env, home=home)
    out = d.out.read_text()
    assert f"Tray Agent is running at {d.url}/" in out
    assert "No tray icon (no display (DISPLAY and WAYLAND_DISPLAY are unset)); running headless." in out
    st = d.status()
    assert st["tray"] is None and st["headless_reason"].startswith("no display")

    conv = d.inbound(ALICE, "Anyone there?", name="Alice Example")["conversation_id"]
    st = d.wait_status(lambda s: s["notifications"])
    assert st["notifications"][-1]["outcome"] == "logged"
    deadline = time.monotonic() + 5
    while "would notify (no notification server): New conversation: Alice Example · Fake SMS — Anyone there?" \
            not in d.log():
        assert time.monotonic() < deadline, d.log()[-2000:]
        time.sleep(0.1)
    assert d.api("GET", f"/api/conversations/{conv}")["unread"] is True
    # One line per HTTP request (provider calls, the window's fetches) never fills the console.
    assert "HTTP Request:" not in d.out.read_text() + d.log() and '" 200' not in d.out.read_text()

    # A second launch has no window to raise: it says where the inbox is.
    second = _cli(env)
    assert second.returncode == 0, second.stderr
    assert f"without a display: open {d.url}/ in a browser" in second.stdout
    assert d.proc.poll() is None


def test_real_cli_runs_headless_and_doctor_says_what_is_missing(desktop_env, start_daemon, scratch):
    home = scratch / "home"
    env = _headless(desktop_env, home)
    report = _cli(env, "doctor", "--json")
    assert report.returncode == 0, report.stderr
    desk = json.loads(report.stdout)["desktop"]
    assert desk["display"]["ok"] is False and "headless" in desk["display"]["detail"]
    assert desk["notification_server"]["ok"] is False
    assert desk["tray_host"]["ok"] is False
    d = start_daemon(env, home=home, cli=True)  # `tray-agent` with no command
    assert "running headless" in d.out.read_text()
    assert d.proc.poll() is None
    assert d.stop() == 0


def test_doctor_finds_the_tray_host_and_notification_server(desktop_env, scratch):
    report = _cli(daemon_env(desktop_env, scratch / "home"), "doctor", "--json")
    assert report.returncode == 0, report.stderr
    desk = json.loads(report.stdout)["desktop"]
    for name in ("display", "session_bus", "tray_host", "notification_server", "window_backend"):
        assert desk[name]["ok"] is True, (name, desk[name])
    assert "XEmbed" in desk["tray_host"]["detail"]
    assert set(desk) >= {"audio_player"}
    text = _cli(daemon_env(desktop_env, scratch / "home"), "doctor").stdout
    assert "desktop tray_host: ok" in text


def test_no_notification_server_still_shows_the_tray_and_logs(desktop_env, desktop, start_daemon, scratch):
    # A session bus of our own with no services to activate: no notification server at all
    # (the stock session config would start dunst on the first Notify call).
    config = scratch / "bus.conf"
    config.write_text(BARE_BUS.format(dir=scratch))
    bus = subprocess.Popen(["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
                           env=desktop_env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        address = bus.stdout.readline().decode().strip()
        home = scratch / "home"
        d = start_daemon(daemon_env(desktop_env, home, DBUS_SESSION_BUS_ADDRESS=address), home=home)
        tray_window(desktop)
        d.inbound(ALICE, "Hello?", name="Alice Example")
        st = d.wait_status(lambda s: s["notifications"])
        assert st["notifications"][-1]["outcome"] == "logged"
        assert st["tray"]["embedded"] is True
        assert d.stop() == 0  # pystray's tidy-up without a notification server is harmless
    finally:
        os.killpg(bus.pid, signal.SIGTERM)
        bus.wait(10)


@pytest.mark.parametrize("headless", [False, True], ids=["tray", "headless"])
def test_an_api_port_in_use_is_a_clear_failure_not_a_hang(desktop_env, start_daemon, scratch, headless):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        home = scratch / "home"
        env = _headless(desktop_env, home) if headless else daemon_env(desktop_env, home)
        env["TRAY_AGENT_API_PORT"] = str(busy.getsockname()[1])
        d = start_daemon(env, home=home, wait=False)
        assert d.proc.wait(30) == 1
        assert "the local API" in d.log()
        assert not (home / "run" / "instance.json").exists()


def test_without_a_display_notifications_still_reach_a_notification_server(desktop_env, desktop, start_daemon,
                                                                           scratch):
    home = scratch / "home"
    d = start_daemon(daemon_env(desktop_env, home, DISPLAY=None, WAYLAND_DISPLAY=None), home=home)
    assert d.status()["tray"] is None
    since = len(desktop.notifications())
    d.inbound(ALICE, "over ssh", name="Alice Example")
    n = desktop.wait_for_notification(lambda n: n.app_name == "Tray Agent", since=since)
    assert (n.summary, n.body) == ("New conversation: Alice Example · Fake SMS", "over ssh")
