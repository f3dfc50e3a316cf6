"""The chat window: its own pywebview process hosting the web UI, shown on the Xvfb
screen; the browser where pywebview cannot start."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.desktop.conftest import close_chat_window, daemon_env, window_toplevel

pytestmark = pytest.mark.desktop

ALICE = "+14155550123"
BOB = "+14155550124"


def _loaded(d, count: int = 1, timeout: float = 20.0) -> None:
    """Wait for the window's ``loaded`` event (logged by the window process), then ~1 s
    more for the page to paint, as pywebview's GTK back-end needs."""
    deadline = time.monotonic() + timeout
    while d.log().count("window INFO: loaded") < count:
        assert time.monotonic() < deadline, d.log()[-2000:]
        time.sleep(0.1)
    time.sleep(1.2)


def _window_shot(desktop, wid: str, path: Path) -> Image.Image:
    desktop.close_popups()  # dunst draws over the window's top-right corner
    time.sleep(1.0)  # WebKit repaints what the pop-up covered
    g = desktop.window_geometry(wid)
    desktop.screenshot(path, crop=(g["WIDTH"], g["HEIGHT"], g["X"], g["Y"]))
    return Image.open(path).convert("RGB")


def _ink(img: Image.Image) -> int:
    """Pixels clearly darker than the page background: text, avatars, buttons."""
    return sum(1 for px in img.get_flattened_data() if sum(px) < 450)


def test_window_shows_the_inbox(desktop_env, desktop, start_daemon, artifacts_dir):
    d = start_daemon(desktop_env)
    d.inbound(ALICE, "Is my order on its way?", name="Alice Example")
    d.inbound(BOB, "Can I change my address?", name="Bob Builder")
    assert d.api("POST", "/api/desktop/open", {})["opened"] == "window"
    wid = window_toplevel(desktop)
    _loaded(d)
    g = desktop.window_geometry(wid)
    assert (g["WIDTH"], g["HEIGHT"]) == (1000, 700)
    shot = _window_shot(desktop, wid, artifacts_dir / "inbox.png")
    desktop.screenshot(artifacts_dir / "screen.png")
    assert _ink(shot) > 2000  # a rendered page, not a blank or error surface
    assert len(set(shot.resize((100, 70)).get_flattened_data())) > 20


def test_reopening_returns_to_the_last_conversation(desktop_env, desktop, start_daemon, artifacts_dir):
    d = start_daemon(desktop_env)
    a = d.inbound(ALICE, "First", name="Alice Example")["conversation_id"]
    d.inbound(BOB, "Second", name="Bob Builder")
    d.api("POST", "/api/desktop/open", {"conversation_id": a})
    wid = window_toplevel(desktop)
    _loaded(d)
    _window_shot(desktop, wid, artifacts_dir / "at-conversation.png")
    # The web UI records where it is; the daemon opened it with #/conversation/ID.
    assert d.status()["window"]["last_fragment"] == f"#/conversation/{a}"
    deadline = time.monotonic() + 10
    while d.api("GET", "/api/settings")["last_conversation_id"] != a:
        assert time.monotonic() < deadline, "the web UI never recorded the open conversation"
        time.sleep(0.2)

    close_chat_window(desktop, d)
    d.api("POST", "/api/desktop/open", {})  # "Open inbox": no fragment
    wid = window_toplevel(desktop)
    _loaded(d, count=2)
    assert d.status()["window"]["last_fragment"] == ""
    _window_shot(desktop, wid, artifacts_dir / "reopened.png")


def test_the_browser_opens_the_inbox_where_pywebview_cannot_start(desktop_env, desktop, start_daemon, scratch):
    fake = scratch / "no-webview"
    (fake / "webview").mkdir(parents=True)
    (fake / "webview" / "__init__.py").write_text("raise ImportError('pywebview is broken here (test)')\n")
    opened = scratch / "browser-opened.txt"
    browser = scratch / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IEXEC)
    home = scratch / "home"
    env = daemon_env(desktop_env, home, BROWSER=str(browser))
    env["PYTHONPATH"] = f"{fake}{os.pathsep}{env['PYTHONPATH']}"  # shadows the real pywebview
    d = start_daemon(env, home=home)
    conv = d.inbound(ALICE, "hi", name="Alice Example")["conversation_id"]
    d.api("POST", "/api/desktop/open", {"conversation_id": conv})
    deadline = time.monotonic() + 20
    while not opened.exists():
        assert time.monotonic() < deadline, d.log()[-2000:]
        time.sleep(0.1)
    url = opened.read_text().strip()
    assert url.startswith(d.url + "/?token=") and url.endswith(f"#/conversation/{conv}")
    assert "using the default browser instead" in d.log()
    # Once known, the browser is used straight away.
    d.api("POST", "/api/desktop/open", {})
    deadline = time.monotonic() + 10
    while len(opened.read_text().splitlines()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _wait_recorded(d, conversation_id: int, timeout: float = 15.0) -> None:
    """The web UI records the conversation it shows (``last_conversation_id``)."""
    deadline = time.monotonic() + timeout
    while d.api("GET", "/api/settings")["last_conversation_id"] != conversation_id:
        assert time.monotonic() < deadline, f"the window never showed conversation {conversation_id}:\n{d.log()[-2000:]}"
        time.sleep(0.2)


def test_an_open_window_switches_conversation_and_dies_with_its_daemon(desktop_env, desktop, start_daemon,
                                                                        artifacts_dir):
    d = start_daemon(desktop_env)
    a = d.inbound(ALICE, "Where is my parcel?", name="Alice Example")["conversation_id"]
    b = d.inbound(BOB, "Please call me back", name="Bob Builder")["conversation_id"]
    d.api("POST", "/api/desktop/open", {"conversation_id": a})
    wid = window_toplevel(desktop)
    _loaded(d)
    _wait_recorded(d, a)
    # What a notification click or a "recent unread" tray entry does while the window is open.
    assert d.api("POST", "/api/desktop/open", {"conversation_id": b})["opened"] == "window"
    _wait_recorded(d, b)
    time.sleep(0.8)
    _window_shot(desktop, wid, artifacts_dir / "switched.png")
    # The window still follows later requests (the first one did not kill its command thread).
    d.api("POST", "/api/desktop/open", {"conversation_id": a})
    _wait_recorded(d, a)
    assert d.status()["window"]["opened"] == 1  # the same window process throughout
    assert "EvalError" not in d.log() and "window command failed" not in d.log()

    pid = d.status()["window"]["pid"]
    d.proc.kill()  # SIGKILL: the daemon cannot close the window itself
    d.proc.wait(10)
    deadline = time.monotonic() + 6
    while _alive(pid):
        assert time.monotonic() < deadline, "the window outlived its daemon"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has ended: its parent (the dead daemon) is gone, init reaps it.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_ctrl_c_in_the_terminal_stops_the_daemon_and_its_open_window_without_a_traceback(
        desktop_env, desktop, start_daemon):
    """Ctrl+C signals the terminal's whole foreground group: the daemon and its window
    each get SIGINT at once. Both stop as when asked, and nothing lands on the terminal."""
    import signal

    d = start_daemon(desktop_env)
    d.inbound(ALICE, "Is my order on its way?", name="Alice Example")
    d.api("POST", "/api/desktop/open", {})
    window_toplevel(desktop)
    _loaded(d)
    pid = d.status()["window"]["pid"]
    os.killpg(d.proc.pid, signal.SIGINT)
    assert d.proc.wait(20) == 0, d.log()[-3000:]
    deadline = time.monotonic() + 6
    while _alive(pid):
        assert time.monotonic() < deadline, "the window outlived its daemon"
        time.sleep(0.1)
    log = d.log()
    for marker in ("Traceback", "KeyboardInterrupt", "Fatal Python error"):
        assert marker not in log, log[-3000:]


def test_the_window_closes_once_when_asked_twice_at_the_same_moment(desktop_env, desktop, start_daemon):
    """A signal and the end of the daemon's requests land together (Ctrl+C reaches both
    processes; the daemon's exit ends the window's stdin): one clean close, no traceback
    out of pywebview's GUI loop."""
    import signal
    import subprocess
    import sys

    d = start_daemon(desktop_env)
    for attempt in range(3):
        env = {**desktop_env, "TRAY_AGENT_TOKEN": d.token}
        proc = subprocess.Popen([sys.executable, "-m", "tray_agent.desktop.window", d.url],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdin is not None and proc.stderr is not None
        lines: list[str] = []
        while not any("INFO: loaded" in line for line in lines):
            line = proc.stderr.readline().decode()
            assert line, "".join(lines)
            lines.append(line)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        proc.stdin.close()
        assert proc.wait(10) == 0
        err = "".join(lines) + proc.stderr.read().decode()
        for marker in ("Traceback", "KeyboardInterrupt", "Error"):
            assert marker not in err, f"attempt {attempt}: {err}"
