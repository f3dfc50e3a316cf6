"""Opening the chat window from the daemon: one window process at a time, started on
demand and gone when closed; the default browser where pywebview cannot start.

The daemon never imports pywebview or WebKit: the window is ``python -m
tray_agent.desktop.window`` in a child process, so the daemon stays small.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from typing import IO

from tray_agent.desktop.window import EXIT_NO_GUI, with_token

#: Environment variables the daemon set for itself alone, which the window must not inherit.
DAEMON_ONLY_ENV: set[str] = set()

log = logging.getLogger(__name__)


def fragment_for(conversation_id: int | None) -> str:
    return f"#/conversation/{int(conversation_id)}" if conversation_id is not None else ""


class WindowLauncher:
    def __init__(self, base_url: str, token: str, *, gui: bool, python: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.gui = gui
        self.python = python or sys.executable
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._webview_failed = False
        self.last_fragment = ""
        self.opened = 0

    def url(self, conversation_id: int | None = None) -> str:
        return f"{self.base_url}/{fragment_for(conversation_id)}"

    def is_open(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.is_open() and self._proc else None

    def open(self, conversation_id: int | None = None) -> str:
        """Bring the window up (at a conversation); returns "window", "browser" or "none"."""
        fragment = fragment_for(conversation_id)
        with self._lock:
            self.last_fragment = fragment
            if self.is_open() and self._send({"cmd": "show", "fragment": fragment}):
                return "window"
            if not self.gui:
                log.info("no display: open the inbox at %s", self.url(conversation_id))
                return "none"
            if self._webview_failed:
                return self._browser(conversation_id)
            env = {k: v for k, v in os.environ.items() if k not in DAEMON_ONLY_ENV}
            env["TRAY_AGENT_TOKEN"] = self.token
            self._proc = subprocess.Popen(
                [self.python, "-m", "tray_agent.desktop.window", self.url(conversation_id)],
                stdin=subprocess.PIPE, env=env, close_fds=True)
            self.opened += 1
            proc = self._proc
        log.info("window process %s started%s", proc.pid, f" at {fragment}" if fragment else "")
        threading.Thread(target=self._reap, args=(proc, conversation_id), name="window-reaper", daemon=True).start()
        return "window"

    def _send(self, msg: dict[str, object]) -> bool:
        stdin: IO[bytes] | None = self._proc.stdin if self._proc else None
        if stdin is None:
            return False
        try:
            stdin.write((json.dumps(msg) + "\n").encode())
            stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def _reap(self, proc: "subprocess.Popen[bytes]", conversation_id: int | None) -> None:
        code = proc.wait()
        log.info("window process %s exited (%s)", proc.pid, code)
        if code == EXIT_NO_GUI:
            with self._lock:
                self._webview_failed = True
            log.warning("pywebview cannot run here; using the default browser instead")
            self._browser(conversation_id)

    def _browser(self, conversation_id: int | None) -> str:
        import webbrowser

        url = with_token(self.url(conversation_id), self.token)
        try:
            ok = webbrowser.open(url)
        except Exception:
            ok = False
        if not ok:
            log.warning("no browser either: open %s yourself (token in the token file)", self.url(conversation_id))
            return "none"
        return "browser"

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()  # the window closes itself on end of input
            proc.wait(timeout)
        except (subprocess.TimeoutExpired, OSError):
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
