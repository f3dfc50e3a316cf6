"""The SQLite store: WAL, foreign keys, migrations that keep data, and clear errors when
the database is locked or read-only (with nothing half-written)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, text

from tray_agent.core.db import HEAD_REVISION, Database
from tray_agent.core.errors import StorageUnavailable


def test_new_store_is_migrated_to_head_in_wal_mode_with_foreign_keys(sqlite_world):
    db = sqlite_world.app.db
    assert db.schema_revision() == HEAD_REVISION
    with db.engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert c.execute(text("PRAGMA busy_timeout")).scalar() == 10000


def test_limit_cache_applies_to_new_connections(tmp_path):
    db = Database.for_file(tmp_path / "store.sqlite3")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -32768
    db.limit_cache(8192)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -8192
    db.dispose()


def _sqlite_memory_used() -> int:
    """Bytes SQLite holds in this process (``sqlite3_memory_used`` of the library loaded)."""
    import ctypes

    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "libsqlite3" in line}
    if not libs:
        pytest.skip("SQLite is linked into Python statically here: no sqlite3_memory_used to read")
    lib = ctypes.CDLL(sorted(libs)[0])
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return int(lib.sqlite3_memory_used())


def test_the_daemons_sqlite_memory_stays_bounded_however_many_connections_read(tmp_path):
    import threading

    from tray_agent.desktop.daemon import DAEMON_CACHE_KIB, DAEMON_SQLITE_KIB

    db = Database.for_file(tmp_path / "big.sqlite3")
    with db.engine.begin() as conn:  # 40 MB of rows: more than all the caches may hold together
        conn.exec_driver_sql("CREATE TABLE row_blob (x TEXT)")
        conn.exec_driver_sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) "
                             "INSERT INTO row_blob SELECT printf('%.400c', 'x') FROM n")
    db.limit_cache(DAEMON_CACHE_KIB, total_kib=DAEMON_SQLITE_KIB)  # as the tray daemon does
    readers = 6  # the API's worker threads, background tasks, tray and notification readers
    together = threading.Barrier(readers)
    peak: list[int] = []

    def read() -> None:
        with db.read() as s:
            together.wait(30)  # every reader holds its own connection at once
            assert s.execute(text("SELECT sum(length(x)) FROM row_blob")).scalar() == 40_000_000
            together.wait(30)
            peak.append(_sqlite_memory_used())

    try:
        threads = [threading.Thread(target=read) for _ in range(readers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(peak) == readers
        # Unbounded, each connection's cache fills to DAEMON_CACHE_KIB: 6 × 8 MB.
        assert max(peak) <= (DAEMON_SQLITE_KIB + 2048) * 1024, f"{max(peak) / 2**20:.1f} MB"
    finally:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA soft_heap_limit=0")  # process-wide: not for the next test
        db.dispose()


def test_restart_keeps_every_message(sqlite_world, make_app):
    conv = sqlite_world.conv_of(sqlite_world.customer_says(sqlite_world.sms, "+14155550199", "keep me"))
    sqlite_world.app.close()
    again = make_app(entry_points=False)
    assert again.schema_revision == HEAD_REVISION
    assert [m.text for m in again.inbox.history(again.agent.id, conv).items] == ["keep me"]


def test_locked_database_is_one_clear_error_and_nothing_half_written(sqlite_world):
    w = sqlite_world
    conv = w.conv_of(w.customer_says(w.sms, "+14155550199", "hi"))
    w.app.db.dispose()
    # Another program holds the write lock; a short busy timeout keeps the test quick.
    path = w.app.paths.database
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        db = Database(f"sqlite:///{path}")

        @event.listens_for(db.engine, "connect")
        def short_timeout(dbapi, _rec):  # type: ignore[no-untyped-def]
            dbapi.execute("PRAGMA busy_timeout=50")

        w.inbox.db = db
        with pytest.raises(StorageUnavailable, match="locked by another program; nothing was saved"):
            w.inbox.reply(w.me.id, conv, "will not land")
    finally:
        blocker.rollback()
        blocker.close()
    assert [m.text for m in w.inbox.history(w.me.id, conv).items] == ["hi"]
    assert w.inbox.outbox_due() == []


def test_read_only_database_refuses_writes_with_one_line(sqlite_world):
    w = sqlite_world
    conv = w.conv_of(w.customer_says(w.sms, "+14155550199", "hi"))
    path = w.app.paths.database
    w.app.db.dispose()
    ro = Database(f"sqlite:///file:{path}?mode=ro&uri=true")
    w.inbox.db = ro
    with pytest.raises(StorageUnavailable, match="read-only; nothing was saved"):
        w.inbox.reply(w.me.id, conv, "nope")
    assert [m.text for m in w.inbox.history(w.me.id, conv).items] == ["hi"]


def test_migrations_build_exactly_the_schema_the_models_declare(world):
    """A model changed without a migration (or the reverse) fails here, on both databases."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with world.app.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # The FTS5 shadow tables and the GIN expression index are the migration's own.
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name.startswith("message_fts"))
            and not (d[0] == "remove_index" and d[1].name == "ix_message_fts")]
    assert diff == []
