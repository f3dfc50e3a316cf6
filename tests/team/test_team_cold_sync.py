"""A cold sync cut short: the daemon (a real `tray-agent serve` process) killed with SIGKILL
while part of the snapshot is in its cache and no cursor yet; restarted, it ends with the
whole snapshot, searchable, and follows the stream from there."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from tray_agent import credentials
from tray_agent.credentials import env_name
from tray_agent.paths import resolve
from tray_agent.team.link import token_key
from tests.server.live import Team
from tests.team.desktop import connect, start_desktop, wait_for
from tests.team.proxy import Relay
from tests.team.seed import seed

pytestmark = pytest.mark.postgres

#: Three snapshot pages (200, then 500 at a time), each of 1,000 messages or more: written
#: with the search index filled in bulk (core/mirror.py BULK_INDEX_ROWS).
CONVERSATIONS = 1000
MESSAGES = 5


def cache_state(path: Path) -> tuple[int, str]:
    """The inbox conversations in a cache file and its cursor (read beside the daemon)."""
    if not path.exists():
        return 0, ""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        n = con.execute("SELECT count(*) FROM conversation WHERE archived = 0").fetchone()[0]
        row = con.execute("SELECT cursor FROM team_state").fetchone()
        return int(n), str(row[0] if row else "")
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0, ""
    finally:
        con.close()


@pytest.fixture
def slow_link(team: Team) -> Iterator[Relay]:
    u = urlsplit(team.url)
    r = Relay(u.hostname or "127.0.0.1", u.port or 80)
    r.rate = 300_000  # a page of 500 conversations takes seconds: time to kill the daemon mid-way
    yield r
    r.stop()


def test_a_daemon_killed_mid_cold_sync_restarts_into_the_whole_cache(team: Team, slow_link: Relay,
                                                                      tmp_path: Path) -> None:
    seed(team.app.db, team.sms.id, team.queue.id, CONVERSATIONS, MESSAGES)
    home = tmp_path / "alice"
    assert connect(team, "Alice", home, slow_link.url).exit_code == 0
    paths = resolve(home)
    key = token_key(paths.config)
    env = {**os.environ, "TRAY_AGENT_HOME": str(home), env_name(*key): credentials.get(*key) or "",
           "PYTHONPATH": os.pathsep.join(sys.path), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    daemon = subprocess.Popen([sys.executable, "-m", "tray_agent", "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: cache_state(paths.team_cache)[0] > 0, timeout=90, what="the first page in the cache")
        held, cursor = cache_state(paths.team_cache)
        assert 0 < held < CONVERSATIONS and cursor == "", (held, cursor)
    finally:
        daemon.kill()
        daemon.wait(30)

    slow_link.rate = None
    again = start_desktop(home)
    try:
        wait_for(lambda: cache_state(paths.team_cache)[0] == CONVERSATIONS and cache_state(paths.team_cache)[1],
                 timeout=90, what="the whole snapshot after the restart")
        # Search finds the messages of every page (filled in bulk): the first page's, written
        # before the kill and again after it, as those of the pages written only after it.
        with team.app.db.read() as s:
            lo, hi = s.execute(text("SELECT min(id), max(id) FROM conversation WHERE channel_id = :ch"),
                               {"ch": team.sms.id}).one()
        for cid in (lo, lo + 500, hi):
            hits = again.get("/api/search", params={"q": f"ord{cid}x"})
            assert [h["conversation"]["id"] for h in hits] == [cid] * MESSAGES
        newest = again.get("/api/inbox", params={"limit": 1})["items"]
        assert newest and newest[0]["id"] == lo  # seeded newest first: the smallest id is the latest
        cid = team.customer_says("after the restart")

        def arrived() -> bool:
            with again.http() as c:
                return c.get(f"/api/conversations/{cid}").status_code == 200

        wait_for(arrived, what="a new conversation through the event stream")
    finally:
        again.stop()
