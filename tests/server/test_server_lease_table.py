"""The lease table on the real PostgreSQL: one holder per job at a time, renewals keep it,
an expired lease goes to whoever asks next, a release frees it at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tray_agent.core.db import Database
from tray_agent.run.leases import MARGIN, PgLeases

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
