"""Fixtures shared by the whole suite. Real parts: a real SQLite file per test, a real
PostgreSQL server for the ``postgres`` tests (started by tests/fixtures/postgres.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tray_agent.app import App
from tray_agent.config import Config, load
from tray_agent.core.clock import FrozenClock
from tray_agent.paths import Paths, resolve
from tray_agent.plugins import PluginHost
from tests.support import FakeChannels

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.desktop", "tests.fixtures.browser"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """A fresh TRAY_AGENT_HOME for this test; nothing touches the user's real dirs."""
    monkeypatch.setenv("TRAY_AGENT_HOME", str(tmp_path / "home"))
    for var in ("TRAY_AGENT_DATABASE_URL", "TRAY_AGENT_LOAD_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    return resolve().ensure()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def fake_channels() -> FakeChannels:
    return FakeChannels()


@pytest.fixture
def make_app(home: Paths, clock: FrozenClock, fake_channels: FakeChannels) -> Iterator[Callable[..., App]]:
    """Build Apps on this test's home (SQLite by default, or ``database_url=``), with the
    fake channel types registered in-process next to the installed plugins."""
    apps: list[App] = []

    def build(database_url: str | None = None, *, entry_points: bool = True) -> App:
        cfg: Config = load(home)
        if database_url:
            cfg.database.url = database_url
        host = PluginHost()
        host.register(fake_channels, name="fake_channels")
        app = App(home, cfg, clock=clock, plugins=host, load_entry_points=entry_points)
        apps.append(app)
        return app

    yield build
    for a in apps:
        a.close()


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    return make_app()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running on the
    main thread for the rest of the session, and later ``asyncio.run`` calls would fail."""
    items.sort(key=lambda item: "chromium" in getattr(item, "fixturenames", ()))
