"""The webhook hot path's batch ingest on PostgreSQL: every message of a group commit, whatever
its channel, stored by ONE statement (data-modifying CTEs) after the event log's lock.

What ``Ingest._store_batch`` does in ten statements per channel (skip known provider ids,
find or open each customer's conversation, insert the messages, move each conversation's
summary, append the events) costs a round trip and the ORM's per-statement CPU each time;
here the replica sends one parameterised statement of arrays and reads back the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tray_agent.core import events
from tray_agent.core.clock import utc
from tray_agent.core.models import IN
from tray_agent.core.sync import LoggedEvent


@dataclass(frozen=True, slots=True)
class Fresh:
    """One message to store: normalised, capped, not a repeat within its batch."""

    channel_id: int
    address: str
    name: str | None
    text: str
    provider_message_id: str
    at: datetime
    meta: str  # JSON text
    preview: str


# The statement reads the message and conversation sequences once per row in the order the
# rows were given (a sorted subquery feeds nextval), so ids follow arrival order; a
# conversation opened here gets its summary at insert (an UPDATE in the same statement could
# not see the row). Foreign keys are checked at the statement's end, after every CTE ran.
STATEMENT = f"""
WITH input AS MATERIALIZED (
  SELECT * FROM unnest(%(ch)s::bigint[], %(addr)s::text[], %(name)s::text[], %(body)s::text[],
                       %(pid)s::text[], %(at)s::timestamp[], %(meta)s::text[], %(preview)s::text[])
    WITH ORDINALITY AS i(channel_id, address, name, body, pid, at, meta, preview, ord)
), fresh AS MATERIALIZED (
  SELECT f.*, nextval(pg_get_serial_sequence('message', 'id')) AS mid FROM (
    SELECT i.* FROM input i WHERE NOT EXISTS (
      SELECT 1 FROM message m WHERE m.channel_id = i.channel_id AND m.provider_message_id = i.pid)
    ORDER BY i.ord) f
), last AS MATERIALIZED (
  SELECT DISTINCT ON (channel_id, address) *, min(ord) OVER (PARTITION BY channel_id, address) AS first_ord
  FROM fresh ORDER BY channel_id, address, ord DESC
), found AS MATERIALIZED (
  SELECT c.id, c.channel_id, c.customer_address AS address, c.assigned_agent_id AS agent, c.queue_id AS queue
  FROM conversation c JOIN last l ON c.channel_id = l.channel_id AND c.customer_address = l.address
  WHERE c.status = 'open'
), opened AS MATERIALIZED (
  SELECT nextval(pg_get_serial_sequence('conversation', 'id')) AS id, n.* FROM (
    SELECT l.channel_id, l.address, l.name, l.mid, l.at, l.preview, l.first_ord, r.agent, r.queue,
           (SELECT cp.contact_id FROM contact_point cp WHERE cp.address = l.address ORDER BY cp.id LIMIT 1) AS contact
    FROM last l
    JOIN unnest(%(route_ch)s::bigint[], %(route_agent)s::bigint[], %(route_queue)s::bigint[])
      AS r(channel_id, agent, queue) ON r.channel_id = l.channel_id
    WHERE NOT EXISTS (SELECT 1 FROM found f WHERE f.channel_id = l.channel_id AND f.address = l.address)
    ORDER BY l.first_ord) n
), new_conversations AS (
  INSERT INTO conversation (id, channel_id, customer_address, customer_name, contact_id, assigned_agent_id,
      queue_id, started_by, status, archived, created_at, last_activity_at, last_inbound_at, last_message_id,
      last_inbound_message_id, last_message_preview, last_message_direction)
  SELECT id, channel_id, address, name, contact, agent, queue, 'customer', 'open', false, %(now)s, at, at, mid,
         mid, preview, '{IN}' FROM opened
), summaries AS (
  UPDATE conversation c SET archived = false, last_activity_at = l.at, last_inbound_at = l.at,
      last_message_id = l.mid, last_inbound_message_id = l.mid, last_message_preview = l.preview,
      last_message_direction = '{IN}', customer_name = coalesce(l.name, c.customer_name)
  FROM found f JOIN last l ON l.channel_id = f.channel_id AND l.address = f.address
  WHERE c.id = f.id
), conv AS (
  SELECT id, channel_id, address, agent, queue FROM found
  UNION ALL SELECT id, channel_id, address, agent, queue FROM opened
), placed AS MATERIALIZED (
  SELECT f.*, c.id AS conversation_id, c.agent, c.queue
  FROM fresh f JOIN conv c ON c.channel_id = f.channel_id AND c.address = f.address
), new_messages AS (
  INSERT INTO message (id, conversation_id, channel_id, direction, kind, text, provider_message_id, rule_refused,
      created_at, meta)
  SELECT mid, conversation_id, channel_id, '{IN}', 'text', body, pid, false, at, meta::json FROM placed
), logged AS (
  INSERT INTO event (type, conversation_id, message_id, visible_agent_id, visible_queue_id, created_at, data)
  SELECT type, conversation_id, message_id, agent, CASE WHEN agent IS NULL THEN queue END, %(now)s, data::json
  FROM (
    SELECT '{events.CONVERSATION_CREATED}' AS type, id AS conversation_id, NULL::bigint AS message_id, agent, queue,
           '{{"started_by": "customer"}}' AS data, 0 AS part, first_ord AS ord FROM opened
    UNION ALL
    SELECT '{events.MESSAGE_CREATED}', conversation_id, mid, agent, queue, '{{"direction": "{IN}"}}', 1, ord
    FROM placed
    ORDER BY part, ord) e
  RETURNING seq, type, conversation_id, message_id, agent_id, visible_agent_id, visible_queue_id, created_at, data
)
-- waits: a conversation opened in a queue that assigns automatically (assign.py's pass follows).
SELECT l.*, l.type = '{events.CONVERSATION_CREATED}' AND EXISTS (
  SELECT 1 FROM message_queue q WHERE q.id = l.visible_queue_id AND q.auto_assign AND q.pickup_mode <> 'none'
) AS waits FROM logged l
"""


@dataclass(frozen=True, slots=True)
class Stored:
    count: int  # messages new to the store
    written: list[LoggedEvent]  # in seq order
    #: Queues that assign automatically and got a new conversation: the assignment pass to run.
    waiting: set[int]


def store(s: Session, fresh: Sequence[Fresh], routes: dict[int, tuple[int | None, int | None]],
          now: datetime) -> Stored:
    """Store ``fresh`` (the caller holds the event log's lock). ``routes``: channel → (agent,
    queue) for the conversations it opens."""
    if not fresh:
        return Stored(0, [], set())
    naive = utc(now).replace(tzinfo=None)
    params: dict[str, Any] = {
        "ch": [f.channel_id for f in fresh], "addr": [f.address for f in fresh], "name": [f.name for f in fresh],
        "body": [f.text for f in fresh], "pid": [f.provider_message_id for f in fresh],
        "at": [utc(f.at).replace(tzinfo=None) for f in fresh], "meta": [f.meta for f in fresh],
        "preview": [f.preview for f in fresh], "now": naive,
        "route_ch": list(routes), "route_agent": [a for a, _ in routes.values()],
        "route_queue": [q for _, q in routes.values()],
    }
    rows = s.connection().exec_driver_sql(STATEMENT, params).all()
    written = [LoggedEvent(seq=r.seq, type=r.type, conversation_id=r.conversation_id, message_id=r.message_id,
                           agent_id=r.agent_id, visible_agent_id=r.visible_agent_id,
                           visible_queue_id=r.visible_queue_id, created_at=utc(r.created_at), data=r.data or {})
               for r in rows]
    written.sort(key=lambda e: e.seq)
    return Stored(sum(1 for e in written if e.type == events.MESSAGE_CREATED), written,
                  {r.visible_queue_id for r in rows if r.waits})
