"""Fixtures for the desktop tests: real tray daemons in subprocesses on the session's
Xvfb desktop (``tests/fixtures/desktop.py``), always killed at teardown."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures._util import REPO_ROOT

# Only the built-in plugins: other channel plugins in the tree must not change what runs.
PLUGINS = "desktop_notifier,tel_call_handler"
TRAY_CLASS = "^tray-agent$"
WINDOW_CLASS = "^tray-agent-window$"


@dataclass
class Daemon:
    """One daemon process (``tests.desktop.harness`` or the real ``tray-agent``)."""

    proc: subprocess.Popen[bytes]
    home: Path
    env: dict[str, str]
    out: Path
    err: Path
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def token(self) -> str:
        return (self.home / "config" / "api-token").read_text().strip()

    def log(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> "Daemon":
        path = self.home / "run" / "instance.json"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                info = json.loads(path.read_text())
                if info.get("pid") == self.proc.pid:
                    self.info = info
                    return self
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"daemon not ready within {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def api(self, method: str, path: str, json_body: Any = None, timeout: float = 30.0) -> Any:
        r = httpx.request(method, self.url + path, json=json_body, timeout=timeout,
                          headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def status(self) -> dict[str, Any]:
        return self.api("GET", "/api/desktop/status")  # type: ignore[no-any-return]

    def wait_status(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if predicate(st):
                return st
            if time.monotonic() > deadline:
                raise AssertionError(f"status never matched within {timeout}s: {json.dumps(st)[:2000]}")
            time.sleep(0.1)

    def inbound(self, customer: str, text: str, name: str | None = None, count: int = 1) -> dict[str, Any]:
        return self.api("POST", "/plugins/test/inbound",  # type: ignore[no-any-return]
                        {"customer": customer, "text": text, "name": name, "count": count})

    def settings(self, **patch: Any) -> dict[str, Any]:
        return self.api("PATCH", "/api/settings", patch)  # type: ignore[no-any-return]

    def icon(self) -> Any:
        """The image pystray holds right now (PIL)."""
        from PIL import Image

        return Image.open(io.BytesIO(base64.b64decode(self.status()["tray"]["icon_png"]))).convert("RGBA")

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        kill_group(self.proc)
        return self.proc.returncode


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Whatever is left of the daemon's process group (its window) goes too."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


def daemon_env(base: dict[str, str], home: Path, **extra: str | None) -> dict[str, str]:
    env = dict(base)
    env.update(TRAY_AGENT_HOME=str(home), TRAY_AGENT_SANDBOX_MODE="off", TRAY_AGENT_LOAD_PLUGINS=PLUGINS,
               PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO_ROOT))
    env.pop("TRAY_AGENT_DATABASE_URL", None)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A private temporary folder (not pytest's tmp_path: concurrent pytest sessions on this
    machine prune each other's base temp dirs)."""
    path = Path(tempfile.mkdtemp(prefix="tray-agent-desktop-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_daemon(scratch: Path, artifacts_dir: Path) -> Iterator[Callable[..., Daemon]]:
    """``start_daemon(env, home=None, cli=False, wait=True)`` → a running daemon. Its
    output is kept in the test's artifacts folder."""
    started: list[Daemon] = []
    counter = iter(range(1000))

    def start(env: dict[str, str], home: Path | None = None, cli: bool = False, wait: bool = True,
              args: tuple[str, ...] = ()) -> Daemon:
        n = next(counter)
        home = home or scratch / "home"
        env = daemon_env(env, home) if "TRAY_AGENT_HOME" not in env else env
        cmd = [str(Path(sys.executable).with_name("tray-agent")), *args] if cli else \
            [sys.executable, "-m", "tests.desktop.harness"]
        out, err = artifacts_dir / f"daemon{n}.out", artifacts_dir / f"daemon{n}.err"
        proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                stdout=open(out, "wb"), stderr=open(err, "wb"), start_new_session=True)
        d = Daemon(proc, home, env, out, err)
        started.append(d)
        return d.wait_ready() if wait else d

    yield start
    for d in started:
        d.stop()


@pytest.fixture
def desktop_env(desktop: Any) -> dict[str, str]:
    """The session desktop's environment (DISPLAY, session bus), with no pop-ups left over."""
    desktop.close_popups()
    return dict(desktop.env)


def tray_window(desktop: Any, timeout: float = 10.0) -> str:
    """The docked icon: the visible ``tray-agent`` window (GTK also makes a hidden one)."""
    deadline = time.monotonic() + timeout
    while True:
        ids = desktop.run("xdotool", "search", "--onlyvisible", "--classname", TRAY_CLASS, check=False).stdout.split()
        for wid in ids:
            if desktop.window_geometry(wid).get("WIDTH", 0) > 16:
                return wid
        if time.monotonic() > deadline:
            raise AssertionError("the tray icon never docked")
        time.sleep(0.1)


def menu(desktop: Any, *keys: str) -> None:
    """Right-click the icon (the gtk back-end's menu button), wait, then type ``keys``."""
    wid = tray_window(desktop)
    desktop.xdotool("mousemove", "--window", wid, 20, 20, "click", 3)
    time.sleep(0.8)
    desktop.xdotool("key", "--delay", "80", *keys)


def notifications_since(desktop: Any, since: int) -> list[Any]:
    return [n for n in desktop.notifications()[since:] if n.app_name == "Tray Agent"]


def close_window(desktop: Any, wid: str) -> None:
    """Ask a window to close as a window manager would (WM_DELETE_WINDOW), not destroy it."""
    from Xlib import X
    from Xlib import display as xdisplay
    from Xlib.protocol import event

    d = xdisplay.Display(desktop.display)
    try:
        w = d.create_resource_object("window", int(wid))
        msg = event.ClientMessage(window=w, client_type=d.intern_atom("WM_PROTOCOLS"),
                                  data=(32, [d.intern_atom("WM_DELETE_WINDOW"), X.CurrentTime, 0, 0, 0]))
        w.send_event(msg, event_mask=X.NoEventMask)
        d.flush()
    finally:
        d.close()


def window_toplevel(desktop: Any, timeout: float = 20.0) -> str:
    """The chat window's visible toplevel (pywebview also makes a hidden leader window)."""
    deadline = time.monotonic() + timeout
    while True:
        ids = desktop.run("xdotool", "search", "--onlyvisible", "--classname", WINDOW_CLASS,
                          check=False).stdout.split()
        for wid in ids:
            if desktop.window_geometry(wid).get("WIDTH", 0) > 100:
                return wid
        if time.monotonic() > deadline:
            raise AssertionError("the chat window never showed")
        time.sleep(0.1)


def close_chat_window(desktop: Any, d: Daemon, attempts: int = 4) -> None:
    """Close the chat window as its close button would, until its process has gone.

    On this busy test machine, with no window manager, an occasional first
    WM_DELETE_WINDOW went unanswered (2 of ~95 tries, never when the machine was idle);
    a second one always closed it, as a user's second click would.
    """
    for _ in range(attempts):
        try:
            close_window(desktop, window_toplevel(desktop, timeout=2))
        except AssertionError:
            pass  # no window on screen any more
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if not d.status()["window"]["open"]:
                return
            time.sleep(0.1)
    raise AssertionError("the chat window did not close")
