"""The cache's bulk write of messages (a snapshot page: thousands at once): rows as SQLite
keeps them, upserted by one statement over a JSON array, the search index filled in bulk."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.orm import Session

_TIME = TypeAdapter(datetime)
#: A row: these columns' values, in this order (``meta`` a dict, ``created_at`` stored_time's).
COLUMNS = ("id", "conversation_id", "channel_id", "direction", "kind", "text", "sender_agent_id", "status",
           "status_reason", "error_code", "rule_refused", "created_at", "meta")
#: One statement, not one per row: the search index's trigger costs several times more run
#: per statement (40,000 rows: 3.5 s of CPU by executemany, 1.7 s so). Not the text on
#: conflict: an update of it would rewrite the search index's row for nothing.
_UPSERT = text(
    f"INSERT INTO message ({', '.join(COLUMNS)}) "
    f"SELECT {', '.join(f'value ->> {i}' for i in range(len(COLUMNS)))} FROM json_each(:rows) WHERE true "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{k} = excluded.{k}" for k in ("status", "status_reason", "error_code", "rule_refused", "meta")))
#: The search index's insert trigger (migration 0003) and the expression it indexes.
_FTS_TRIGGER = "message_fts_ai"
_FTS_VALUES = re.compile(r"INSERT INTO message_fts\(rowid, text\) VALUES \(new\.id, (.+?)\);")
#: From this many messages in one write, the search index is filled in bulk.
BULK_INDEX_ROWS = 1000


def stored_time(v: Any) -> str | None:
    """A wire time as the store keeps it (naive UTC, SQLAlchemy's SQLite spelling), for rows
    written without the ORM's type processing."""
    if isinstance(v, str) and v.endswith("Z") and len(v) >= 20 and v[10] == "T":
        # The server's own spelling (pydantic's, UTC): cut, not parsed (200,000 of them).
        head, _, frac = v[:-1].partition(".")
        if len(head) == 19 and len(frac) <= 6:
            return f"{head[:10]} {head[11:]}.{frac:0<6}"
    if v is None:
        return None
    t = _TIME.validate_python(v)
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc).replace(tzinfo=None)
    return t.isoformat(sep=" ", timespec="microseconds")


def upsert_messages(s: Session, rows: list[tuple[Any, ...]]) -> None:
    """Insert or update ``rows`` (COLUMNS' values); of several with one id, the last counts,
    as an upsert of each in turn would leave it."""
    batch = {"rows": json.dumps(list({r[0]: r for r in rows}.values()), ensure_ascii=False)}
    if len(rows) < BULK_INDEX_ROWS or not _index_in_bulk(s, batch):
        s.execute(_UPSERT, batch)


def _index_in_bulk(s: Session, batch: dict[str, str]) -> bool:
    """The upsert with the search index filled by one statement before it rather than by the
    insert trigger row by row (100,000 rows: 0.6 s of CPU instead of 1.2 s). The trigger is
    dropped and made again inside this transaction: no other connection sees the table
    without it, a crash leaves it in place. False (nothing done) for a trigger this does
    not know."""
    trigger = s.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"),
                        {"n": _FTS_TRIGGER}).scalar()
    found = _FTS_VALUES.search(trigger or "")
    expr = found.group(1).replace("new.text", f"(value ->> {COLUMNS.index('text')})") if found else "new."
    if trigger is None or "new." in expr:
        return False
    s.connection().exec_driver_sql(f"DROP TRIGGER {_FTS_TRIGGER}")
    # Only the rows new to the cache: an upsert leaves a held row's text (and entry) as is.
    s.execute(text(f"INSERT INTO message_fts(rowid, text) SELECT value ->> 0, {expr} FROM json_each(:rows) "
                   "WHERE NOT EXISTS (SELECT 1 FROM message WHERE id = value ->> 0)"), batch)
    s.execute(_UPSERT, batch)
    s.connection().exec_driver_sql(trigger)
    return True
