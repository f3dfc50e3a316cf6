"""The lease table on the real PostgreSQL: one holder per job at a time, renewals keep it,
an expired lease goes to whoever asks next, a release frees it at once; each take-over bumps
the generation that fences the previous holder's writes; the rows of removed channels go."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select, text

from tray_agent.app import App
from tray_agent.core.db import Database
from tray_agent.core.team_models import JobLease
from tray_agent.run.leases import MARGIN, Fence, LeaseLost, PgLeases, poll_job

pytestmark = pytest.mark.postgres
TTL = MARGIN + 1.0  # a lease held locally for 1 s, in the database for TTL


@pytest.fixture
def db(postgres_db_url: str) -> Iterator[Database]:
    database = Database(postgres_db_url)
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


def test_one_holder_per_job_renewed_then_taken_over_after_expiry(db: Database):
    a, b = PgLeases(db, "a", ttl=TTL), PgLeases(db, "b", ttl=TTL)
    for leases in (a, b):
        leases.want("outbox")
        leases.want("sweeps")
    assert a.renew() == ["outbox", "sweeps"]
    assert b.renew() == []
    assert a.held("outbox") and not b.held("outbox")
    assert a.renew() == []  # a renewal, not a new take-over
    assert b.renew() == []
    time.sleep(TTL + 0.2)  # a stopped renewing: its leases expired in the database
    assert not a.held("outbox")
    assert b.renew() == ["outbox", "sweeps"]
    assert b.held("sweeps")
    assert a.renew() == [] and not a.held("sweeps")


def test_a_release_frees_the_jobs_at_once(db: Database):
    a, b = PgLeases(db, "a"), PgLeases(db, "b")
    a.want("outbox")
    b.want("outbox")
    assert a.renew() == ["outbox"]
    a.release()
    assert not a.held("outbox")
    assert b.renew() == ["outbox"]


def check(db: Database, fence: Fence, *, live: bool = True) -> None:
    with db.write() as s:
        fence.check(s, live=live)


def generation(db: Database, name: str) -> int:
    with db.read() as s:
        return s.get_one(JobLease, name).generation


def test_each_take_over_bumps_the_generation_and_fences_the_previous_holder(db: Database):
    a, b = PgLeases(db, "a", ttl=TTL), PgLeases(db, "b", ttl=TTL)
    for leases in (a, b):
        leases.want("outbox")
    assert a.renew() == ["outbox"]
    first = a.fence("outbox")
    assert first.generation == generation(db, "outbox")
    a.renew()
    assert a.fence("outbox") == first  # a renewal keeps the generation
    check(db, first)
    time.sleep(TTL + 0.2)  # a froze: its lease expired, nobody took it yet
    with pytest.raises(LeaseLost):
        check(db, first)  # no new work on an expired lease...
    check(db, first, live=False)  # ...but what it did meanwhile may still be recorded
    assert b.renew() == ["outbox"]
    taken = b.fence("outbox")
    assert taken.generation == first.generation + 1
    for live in (True, False):
        with pytest.raises(LeaseLost, match="no longer holds outbox"):
            check(db, first, live=live)  # taken over: refused either way
    check(db, taken)
    b.release()  # a clean stop expires the row, it does not delete it:
    assert a.renew() == ["outbox"] and a.fence("outbox").generation == taken.generation + 1
    with pytest.raises(LeaseLost):
        check(db, taken, live=False)


def test_the_lease_rows_of_removed_or_disabled_channels_are_cleaned_up(
        make_app: Callable[..., App], postgres_db_url: str):
    app = make_app(postgres_db_url)
    kept, removed = (app.inbox.add_channel("fake-sms", name, f"+1415555010{n}") for n, name in enumerate(("A", "B")))
    disabled = app.inbox.add_channel("fake-sms", "C", "+14155550109")
    leases = PgLeases(app.db, "a")
    for ch in (kept, removed, disabled):
        leases.want(poll_job(ch.id))
    leases.want("poll-999999")  # a channel deleted while this replica was down
    assert sorted(leases.renew()) == sorted(poll_job(c.id) for c in (kept, removed, disabled))
    with app.db.read() as s:
        assert sorted(s.execute(select(JobLease.name)).scalars()) == sorted(
            poll_job(c.id) for c in (kept, removed, disabled))
    assert app.inbox.remove_channel(removed.id)
    app.inbox.update_channel(disabled.id, enabled=False)
    leases.renew()
    with app.db.read() as s:
        assert list(s.execute(select(JobLease.name)).scalars()) == [poll_job(kept.id)]
    assert leases.held(poll_job(kept.id))
    assert not leases.held(poll_job(removed.id)) and not leases.held(poll_job(disabled.id))
    leases.renew()  # not taken again
    with app.db.read() as s:
        assert list(s.execute(select(JobLease.name)).scalars()) == [poll_job(kept.id)]


def test_a_process_frozen_mid_transaction_loses_its_locks_within_seconds(db: Database):
    from tray_agent.core import events
    from tray_agent.core.db import IDLE_IN_TRANSACTION_MS
    from tray_agent.core.errors import StorageUnavailable

    a, b = PgLeases(db, "a"), PgLeases(db, "b", ttl=TTL)
    a.want("outbox")
    b.want("outbox")
    assert a.renew() == ["outbox"]
    other = Database(db.url)
    try:
        with pytest.raises(StorageUnavailable):
            with db.write() as s:  # a's outbox write, then a freezes before it commits
                a.fence("outbox").check(s)
                events.serialize_writers(s)  # the event log's writer lock too
                time.sleep(IDLE_IN_TRANSACTION_MS / 1000 + 1.5)
                s.execute(select(JobLease.name))  # it wakes: its session was ended, nothing committed
        t0 = time.monotonic()
        with other.write() as s:  # nobody waits for it any more
            events.serialize_writers(s)
        assert time.monotonic() - t0 < 1
        assert b.renew() == ["outbox"]  # its row lock went with the session (the lease had expired)
    finally:
        other.dispose()


def test_building_the_schema_survives_a_pause_longer_than_the_idle_guard(
        postgres_db_url: str, monkeypatch: pytest.MonkeyPatch):
    from sqlalchemy import event

    from tray_agent.core import db as db_module
    from tray_agent.core.errors import StorageUnavailable

    monkeypatch.setattr(db_module, "IDLE_IN_TRANSACTION_MS", 200)
    fresh = Database(postgres_db_url)
    paused: list[str] = []

    @event.listens_for(fresh.engine, "before_cursor_execute")
    def busy_machine(conn, cursor, statement, *args) -> None:  # a migration's process descheduled
        if statement.lstrip().startswith("CREATE TABLE") and not paused:
            paused.append(statement)
            time.sleep(0.6)

    try:
        assert fresh.migrate() == db_module.HEAD_REVISION
        assert paused
        with pytest.raises(StorageUnavailable):  # the guard still holds for everything else
            with fresh.write() as s:
                s.execute(text("SELECT 1"))
                time.sleep(0.6)
                s.execute(text("SELECT 1"))
    finally:
        fresh.dispose()
