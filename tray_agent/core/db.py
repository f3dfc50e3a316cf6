"""Engine, transactions and migrations for the store (SQLite by default, PostgreSQL for teams).

SQLite runs in WAL mode with foreign keys on and a busy timeout; write transactions take
the write lock up front (BEGIN IMMEDIATE) so two writers queue instead of deadlocking.
A locked, read-only or unreachable database surfaces as StorageUnavailable, with nothing
half-written: every service operation is one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from tray_agent.core.errors import StorageUnavailable
from tray_agent.core.search_text import index_text

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest migration; start-up skips importing alembic when the store is already there.
HEAD_REVISION = "0008"
#: SQLite's page cache per connection, in KiB (filled only as pages are touched).
CACHE_KIB = 32768
#: PostgreSQL ends a session idle this long inside a transaction (ms): a process frozen
#: mid-transaction (SIGSTOP, a stalled VM) then frees its locks — the event log's writer
#: lock, a job lease's row — instead of stalling every replica until it wakes.
IDLE_IN_TRANSACTION_MS = 5000


def _postgres_partial_indexes() -> None:
    """Give the models' partial indexes their PostgreSQL WHERE (see ``models.OPEN_ONLY``)."""
    from tray_agent.core.models import OPEN_ONLY, Conversation

    for index in Conversation.__table__.indexes:  # type: ignore[attr-defined]  # set by the metaclass
        if index.name == "uq_conversation_open":
            index.dialect_options["postgresql"]["where"] = OPEN_ONLY


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.cache_kib = CACHE_KIB
        #: SQLite's memory in this whole process (KiB), or None for no limit.
        self.heap_kib: int | None = None
        if self.is_sqlite:
            self.engine = create_engine(
                url, echo=echo, connect_args={"check_same_thread": False, "timeout": 10}
            )
            _sqlite_pragmas(self.engine, lambda: self.cache_kib, lambda: self.heap_kib)
        else:
            self.engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, connect_args={
                "options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"})
            _postgres_partial_indexes()
        self._writer = self.engine.execution_options(tray_write=True)
        # SQLite's WAL readers already keep one snapshot from their first read on.
        self._snapshot = self.engine if self.is_sqlite else self.engine.execution_options(
            isolation_level="REPEATABLE READ")

    @classmethod
    def for_file(cls, path: Path) -> "Database":
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back entirely on any error."""
        with _storage_errors(), Session(self._writer, expire_on_commit=False) as s:
            with s.begin():
                yield s

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _storage_errors(), Session(self.engine, expire_on_commit=False) as s:
            with s.begin():
                yield s

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read transaction that sees one state throughout, however long it reads (a sync
        snapshot notes the event cursor, then reads the state that cursor describes)."""
        with _storage_errors(), Session(self._snapshot, expire_on_commit=False) as s:
            with s.begin():
                yield s

    def migrate(self) -> str:
        """Bring the schema to the newest revision (creating it if new); return the revision."""
        current = self.schema_revision()
        if current == HEAD_REVISION:
            return current
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with _storage_errors(), self.engine.begin() as conn:
            if not self.is_sqlite:
                # Building the schema is one long transaction that may pause between statements
                # on a busy machine; the idle-in-transaction guard is for stalled actions, not this.
                conn.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 0")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return self.schema_revision() or "none"

    def schema_revision(self) -> str | None:
        with _storage_errors(), self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def limit_cache(self, kib: int, *, total_kib: int | None = None) -> None:
        """Use a page cache of ``kib`` KiB per connection from now on (pooled connections
        are closed so that new ones pick it up). ``total_kib`` bounds all SQLite holds in
        this process, however many connections are open: each pooled connection's cache
        otherwise fills to ``kib`` as the store grows, and under traffic several are busy."""
        self.cache_kib = kib
        self.heap_kib = total_kib
        self.engine.dispose()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(engine: Engine, cache_kib: Callable[[], int], heap_kib: Callable[[], int | None]) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:  # a DB-API connection: untyped
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA synchronous=NORMAL")
        # The default 2 MB page cache thrashes once the indexes outgrow it (a million
        # messages); pages only fill as they are touched, so an idle daemon stays small.
        cur.execute(f"PRAGMA cache_size=-{int(cache_kib())}")
        cur.execute("PRAGMA temp_store=MEMORY")
        heap = heap_kib()
        if heap is not None:
            # Process-wide: past it SQLite recycles cached pages instead of allocating more.
            cur.execute(f"PRAGMA soft_heap_limit={int(heap) * 1024}")
        cur.close()
        # The search index's triggers spell CJK and emoji as words (core/search_text.py).
        dbapi_conn.create_function("tray_index_text", 1, index_text, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("tray_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise StorageUnavailable(_explain(exc)) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StorageUnavailable("The database connection was lost; nothing was saved.") from exc
        raise


def _explain(exc: OperationalError) -> str:
    msg = str(exc.orig).lower()
    if "locked" in msg or "busy" in msg:
        return "The database is locked by another program; nothing was saved. Try again."
    if "readonly" in msg or "read-only" in msg:
        return "The database file is read-only; nothing was saved."
    if "unable to open" in msg:
        return "The database file cannot be opened; check its folder exists and is writable."
    if "disk" in msg and "full" in msg:
        return "The disk is full; nothing was saved."
    return f"The database failed: {str(exc.orig).splitlines()[0]}"
