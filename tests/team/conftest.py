"""Team desktop tests: the real team server on PostgreSQL (tests/server's fixtures, one per
module), desktops in-process with their own homes and the in-memory keyring."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.channels.conftest import memory_keyring  # noqa: F401  (the in-memory keyring)
from tests.channels.keyring_memory import MemoryKeyring
from tests.server.conftest import module_db, team  # noqa: F401  (the module's team server)
from tests.server.live import Team
from tests.team.desktop import Desktop, connect, start_desktop

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def keyring_for_tokens(memory_keyring: MemoryKeyring) -> MemoryKeyring:  # noqa: F811
    """Device tokens go to the in-memory keyring (the process's, shared by its desktops)."""
    return memory_keyring


@pytest.fixture
def desktops(team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Desktop]]:  # noqa: F811
    """``desktops("Alice")``: Alice's desktop connected to the team server and running."""
    monkeypatch.delenv("TRAY_AGENT_HOME", raising=False)
    started: list[Desktop] = []

    def make(who: str, server: str | None = None, plugins: Sequence[tuple[object, str]] = ()) -> Desktop:
        home = tmp_path / f"home-{who}-{len(started)}"
        r = connect(team, who, home, server)
        assert r.exit_code == 0, r.output
        d = start_desktop(home, plugins)
        started.append(d)
        return d

    yield make
    for d in started:
        try:
            d.stop()
        except RuntimeError:
            pass  # a test stopped it already
