"""A team-mode desktop for tests: its own home, connected with `tray-agent connect` (the
CLI, in-process, with the tests' in-memory keyring), then its runner serving the local API
on loopback in a background thread, syncing from the test's team server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from tray_agent.api.thread import ServerThread
from tray_agent.app import App
from tray_agent.cli import cli
from tray_agent.config import load
from tray_agent.core.clock import Clock
from tray_agent.paths import Paths, resolve
from tray_agent.plugins import PluginHost
from tests.server.live import CONSOLE_ACTOR, Team
from tests.waiting import wait_for  # noqa: F401  (re-exported for the tests)
from tests.support import FakeChannels


def run_cli(home: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--home", str(home), *args], input=input, catch_exceptions=False)


@dataclass
class Desktop:
    home: Path
    app: App
    thread: ServerThread

    @property
    def paths(self) -> Paths:
        return self.app.paths

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.thread.url, headers={"Authorization": f"Bearer {self.thread.token}"},
                            timeout=30)

    def get(self, path: str, **kw: Any) -> Any:
        with self.http() as c:
            r = c.get(path, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def inbox_ids(self, filter: str = "all") -> list[int]:
        return [c["id"] for c in self.get("/api/inbox", params={"filter": filter, "limit": 200})["items"]]

    def connection(self) -> dict[str, Any]:
        return dict(self.get("/api/connection"))

    def stop(self) -> None:
        self.thread.stop()
        self.app.close()


def connect(team: Team, who: str, home: Path, server: str | None = None, *extra: str) -> Result:
    code = team.accounts.issue_code(CONSOLE_ACTOR, team.agents[who].id)
    return run_cli(home, "connect", server or team.url, "--code", code, "--device-name", f"{who}'s desktop", *extra)


def start_desktop(home: Path, plugins: Sequence[tuple[object, str]] = (), clock: Clock | None = None) -> Desktop:
    """The daemon of an already connected home (restart: the same home again), with the fake
    channels and ``plugins`` (plugin, name) registered; ``clock``: its injectable clock (the
    team server's, for retention moved by the test)."""
    paths = resolve(home).ensure()
    host = PluginHost()
    host.register(FakeChannels(), name="fake_channels")
    for plugin, name in plugins:
        host.register(plugin, name=name)
    app = App(paths, load(paths, environ={}), clock=clock, plugins=host, load_entry_points=False)
    return Desktop(home, app, ServerThread(app).start())
