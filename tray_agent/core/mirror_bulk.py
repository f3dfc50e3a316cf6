"""The cache's bulk write of messages (a snapshot page: thousands at once): rows as SQLite
keeps them, upserted by one prepared statement run for each, the search index filled in bulk."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.orm import Session

_TIME = TypeAdapter(datetime)
#: A row: these columns' values, in this order (``created_at`` stored_time's, ``meta`` meta_text's).
COLUMNS = ("id", "conversation_id", "channel_id", "direction", "kind", "text", "sender_agent_id", "status",
           "status_reason", "error_code", "rule_refused", "created_at", "meta")
#: Run once per row by the driver (one prepared statement). Not the text on conflict: an
#: update of it would rewrite the search index's row for nothing.
_UPSERT = (
    f"INSERT INTO message ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
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
        # The server's own spellings (UTC; whole seconds, or six digits): cut, not parsed.
        if len(v) == 27 and v[19] == ".":
            return f"{v[:10]} {v[11:26]}"
        head, _, frac = v[:-1].partition(".")
        if len(head) == 19 and len(frac) <= 6:
            return f"{head[:10]} {head[11:]}.{frac:0<6}"
    if v is None:
        return None
    t = _TIME.validate_python(v)
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc).replace(tzinfo=None)
    return t.isoformat(sep=" ", timespec="microseconds")


def meta_text(meta: dict[str, Any] | None) -> str:
    """A message's ``meta`` as its JSON column keeps it (most are empty: no encoding then)."""
    return json.dumps(meta, ensure_ascii=False) if meta else "{}"


def upsert_messages(s: Session, rows: list[tuple[Any, ...]]) -> None:
    """Insert or update ``rows`` (COLUMNS' values); of several with one id, the last counts,
    as an upsert of each in turn would leave it."""
    rows = list({r[0]: r for r in rows}.values())
    if len(rows) < BULK_INDEX_ROWS or not _index_in_bulk(s, rows):
        s.connection().exec_driver_sql(_UPSERT, rows)


def _index_in_bulk(s: Session, rows: list[tuple[Any, ...]]) -> bool:
    """The upsert with the search index filled by one statement after it rather than by the
    insert trigger row by row (200,000 rows: 3.0 s of CPU instead of 5.1 s with a statement
    over a JSON array, more by the trigger). The trigger is dropped and made again inside
    this transaction: no other connection sees the table without it, a crash leaves it in
    place. False (nothing done) for a trigger this does not know."""
    trigger = s.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"),
                        {"n": _FTS_TRIGGER}).scalar()
    found = _FTS_VALUES.search(trigger or "")
    expr = found.group(1).replace("new.text", "text") if found else "new."
    if trigger is None or "new." in expr:
        return False
    # Only the rows new to the cache: an upsert leaves a held row's text (and entry) as is.
    ids = json.dumps([r[0] for r in rows])
    held = set(s.execute(text("SELECT m.id FROM json_each(:ids) j JOIN message m ON m.id = j.value"),
                         {"ids": ids}).scalars())
    new = json.dumps([r[0] for r in rows if r[0] not in held]) if held else ids
    con = s.connection()
    con.exec_driver_sql(f"DROP TRIGGER {_FTS_TRIGGER}")
    con.exec_driver_sql(_UPSERT, rows)
    s.execute(text(f"INSERT INTO message_fts(rowid, text) SELECT id, {expr} FROM message "
                   "WHERE id IN (SELECT value FROM json_each(:new))"), {"new": new})
    con.exec_driver_sql(trigger)
    return True
