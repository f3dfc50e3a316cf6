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
