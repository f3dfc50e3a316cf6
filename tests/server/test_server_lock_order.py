"""Writers never deadlock on PostgreSQL: an action waiting its turn for the event log's writer
lock has locked no row yet, so whoever holds that lock can take the rows it needs and finish.
(CI once saw "save contact" lock the conversation, then wait for the log lock held by the
automatic assignment waiting for that conversation: PostgreSQL killed one, and the agent's
save failed with "The database is locked".)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.server.live import Team
from tray_agent.core import events

# Each action as an agent does it on a queue conversation (Alice is a member).
ACTIONS: dict[str, Callable[[Any, int, int], object]] = {
    "save contact": lambda inbox, a, c: inbox.save_contact(a, c, name="Kim"),
    "mark read": lambda inbox, a, c: inbox.mark_read(a, c),
    "mark unread": lambda inbox, a, c: inbox.mark_unread(a, c),
    "reply": lambda inbox, a, c: inbox.reply(a, c, "On it"),
    "take over": lambda inbox, a, c: inbox.claim(a, c),
    "archive": lambda inbox, a, c: inbox.archive(a, c),
    "close": lambda inbox, a, c: inbox.close(a, c),
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_an_action_waiting_for_the_log_lock_holds_no_row(team: Team, module_db: str, action: str):
    conv = team.customer_says(f"before {action}")
    engine = create_engine(module_db)
    done: list[object] = []
    with engine.connect() as holder, engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watch:
        holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": events._LOG_LOCK})  # another writer's turn
        worker = threading.Thread(target=lambda: done.append(_run(ACTIONS[action], team, conv)), daemon=True)
        worker.start()
        waiting = _waiting_for_log_lock(watch)
        # It has written nothing (no transaction id yet), so holds no row lock ...
        assert waiting["backend_xid"] is None, f"{action} locked rows before the log lock"
        # ... and the holder takes the conversation's row at once, not a deadlock.
        holder.execute(text("SET LOCAL lock_timeout = '3s'"))
        assert holder.execute(text("SELECT id FROM conversation WHERE id = :c FOR UPDATE"), {"c": conv}).scalar() == conv
        holder.commit()
        worker.join(30)
    engine.dispose()
    assert done and not isinstance(done[0], BaseException), done  # the action went through after


def _run(fn: Callable[[Any, int, int], object], team: Team, conv: int) -> object:
    try:
        return fn(team.inbox, team.agents["Alice"].id, conv)
    except BaseException as exc:  # noqa: BLE001  # reported by the test, not lost in the thread
        return exc


def _waiting_for_log_lock(watch: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The backend that waits for the advisory lock the holder has (read outside a transaction:
    pg_stat_activity is a snapshot taken once per transaction)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = watch.execute(text(
            "SELECT a.pid, a.backend_xid::text AS backend_xid FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = :k"), {"k": events._LOG_LOCK}).mappings().first()
        if row is not None:
            return dict(row)
        time.sleep(0.02)
    raise AssertionError("no writer came to wait for the event log's lock")
