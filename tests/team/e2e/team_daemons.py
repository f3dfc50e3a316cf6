"""Team-mode desktops as real ``tray-agent`` processes: each its own home (connected with
`tray-agent connect`, the CLI, in this process), its own session bus with a notification
server, the device token handed to it in the environment as a server's secrets are."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tray_agent import credentials
from tray_agent.api.security import window_url
from tray_agent.credentials import env_name
from tray_agent.paths import resolve
from tray_agent.team.link import token_key
from tests.desktop.conftest import Daemon, daemon_env
from tests.fixtures._util import REPO_ROOT
from tests.fixtures.desktop import Desktop as Session
from tests.fixtures.desktop import Notification, private_session
from tests.waiting import wait_for
from tests.team.desktop import run_cli

TRAY_AGENT = str(Path(sys.executable).with_name("tray-agent"))
#: What the packaged desktop carries: the built-ins and the first-party channel plugins (a
#: team desktop runs no channel, but its window takes each channel's rules from its type).
PLUGINS = "desktop_notifier,tel_call_handler,twilio,whatsapp"


@dataclass
class TeamDaemon:
    """One agent's desktop: the daemon process and the session its pop-ups go to."""

    who: str
    daemon: Daemon
    session: Session

    @property
    def url(self) -> str:
        return self.daemon.url

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, timeout=30,
                      headers={"Authorization": f"Bearer {self.daemon.token}"})
        assert r.status_code == 200, f"{self.who}: GET {path}: {r.status_code} {r.text}"
        return r.json()

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=30,
                          headers={"Authorization": f"Bearer {self.daemon.token}"})

    def connection(self) -> dict[str, Any]:
        return dict(self.get("/api/connection"))

    def inbox(self) -> list[dict[str, Any]]:
        return list(self.get("/api/inbox", filter="all", limit=200)["items"])

    def history(self, conversation_id: int) -> list[dict[str, Any]]:
        """The customer's whole history as this desktop's window reads it."""
        return list(self.get(f"/api/conversations/{conversation_id}/messages", limit=200)["items"])

    def window(self, conversation_id: int | None = None) -> str:
        return window_url(self.url, self.daemon.token, conversation_id)

    def pop_ups(self) -> list[Notification]:
        return [n for n in self.session.notifications() if n.app_name == "Tray Agent"]

    def wait_pop_up(self, since: int, match: str, timeout: float = 20.0) -> Notification:
        """The first Tray Agent pop-up after the ``since`` first whose body contains ``match``."""
        found = wait_for(lambda: [n for n in self.pop_ups()[since:] if match in n.body], timeout=timeout,
                         what=lambda: f"{self.who}'s pop-up with {match!r}; saw "
                                      f"{[(n.summary, n.body) for n in self.pop_ups()[since:]]}")
        return found[0]

    def wait_online(self, timeout: float = 30.0) -> dict[str, Any]:
        return wait_for(lambda: (c := self.connection())["state"] == "online" and c, timeout=timeout,
                        alive=self.daemon.proc, what=lambda: f"{self.who}'s desktop online: {self.connection()}")


def connect_home(home: Path, server: str, code: str, who: str, ca: Path | None) -> str:
    """`tray-agent connect` for ``home``; the device token it kept in the keyring."""
    r = run_cli(home, "connect", server, "--code", code, "--device-name", f"{who}'s desktop",
                *(("--ca", str(ca)) if ca else ()))
    assert r.exit_code == 0, r.output
    token = credentials.get(*token_key(resolve(home).config))
    assert token
    return token


def start_team_daemon(stack: ExitStack, who: str, home: Path, token: str, display: Session,
                      logs: Path) -> TeamDaemon:
    """``tray-agent`` on a connected ``home``: headless (no tray icon, the window is a
    browser's), its pop-ups on a session bus of its own with dunst on ``display``."""
    session = private_session(stack, logs / f"session-{who}", display)
    env = daemon_env(session.env, home, DISPLAY=None, TRAY_AGENT_LOG_LEVEL="INFO", TRAY_AGENT_LOAD_PLUGINS=PLUGINS,
                     PYTHONPATH=os.environ.get("PYTHONPATH") or str(REPO_ROOT))
    env[env_name(*token_key(resolve(home).config))] = token
    out, err = logs / f"daemon-{who}.out", logs / f"daemon-{who}.err"
    proc = subprocess.Popen([TRAY_AGENT], env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                            stdout=open(out, "wb"), stderr=open(err, "wb"), start_new_session=True)
    daemon = Daemon(proc, home, env, out, err)
    stack.callback(daemon.stop)
    return TeamDaemon(who, daemon, session)
