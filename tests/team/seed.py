"""Many conversations on a team server at once, written by SQL (PostgreSQL): what the server
holds matters to a cold sync, not how it got there (bench/core_ingest.py measures ingest).
Shared by tests/team/test_team_cold_sync.py and bench/team_desktop.py."""

from __future__ import annotations

from sqlalchemy import text

from tray_agent.core.db import Database


def seed(db: Database, channel_id: int, queue_id: int, conversations: int, messages: int) -> None:
    """Open conversations of the queue, newest first by id, each with ``messages`` inbound ones
    whose texts carry the conversation's id as a word of its own: "message 3 about order ord17x"."""
    with db.write() as s:
        s.execute(text("""INSERT INTO conversation (channel_id, customer_address, status, archived, queue_id,
                          started_by, created_at, last_activity_at, last_inbound_at, last_message_preview,
                          last_message_direction)
                          SELECT :ch, '+1646' || lpad(g::text, 7, '0'), 'open', false, :q, 'customer',
                                 now() - interval '1 day', now() - (g || ' seconds')::interval,
                                 now() - (g || ' seconds')::interval, 'message', 'in'
                          FROM generate_series(1, :n) g"""), {"ch": channel_id, "q": queue_id, "n": conversations})
        s.execute(text("""INSERT INTO message (conversation_id, channel_id, direction, kind, text, created_at, meta,
                          rule_refused)
                          SELECT c.id, :ch, 'in', 'text', 'message ' || r || ' about order ord' || c.id || 'x',
                                 now() - interval '1 day' + (r || ' seconds')::interval, '{}', false
                          FROM conversation c, generate_series(1, :m) r WHERE c.channel_id = :ch
                          ORDER BY c.id, r"""), {"ch": channel_id, "m": messages})
        s.execute(text("""UPDATE conversation c SET last_message_id = x.mx, last_inbound_message_id = x.mx
                          FROM (SELECT conversation_id, max(id) mx FROM message GROUP BY conversation_id) x
                          WHERE x.conversation_id = c.id"""))
