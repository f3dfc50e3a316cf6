"""Team server tests: a real PostgreSQL database and the server on real HTTP on loopback.
One server per test module (agents and their devices made once); each test makes its own
conversations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.live import Team, team_server

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def module_db(postgres_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with postgres_server.fresh_database() as url:
        yield url


@pytest.fixture(scope="module")
def team(module_db: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Team]:
    """A module's ``SMS_SETTINGS`` are its SMS channel's (``{"webhook": "record"}``)."""
    home: Path = tmp_path_factory.mktemp("team") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAY_AGENT_HOME", str(home))
        for var in ("TRAY_AGENT_DATABASE_URL", "TRAY_AGENT_LOAD_PLUGINS"):
            mp.delenv(var, raising=False)
        with team_server(home, module_db, getattr(request.module, "SMS_SETTINGS", None)) as t:
            yield t
