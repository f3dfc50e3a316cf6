"""A snapshot page's conversations as JSON that PostgreSQL builds in one statement (the
page, its read marks, names, unread counts, last senders and newest messages with their
attachments), so the replica splices text instead of building and validating views.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import ARRAY, BigInteger, bindparam, text
from sqlalchemy.orm import Session


def _str(expr: str) -> str:
    """A text column as a JSON string, or null."""
    return f"coalesce(to_json({expr})::text, 'null')"


def _int(expr: str) -> str:
    return f"coalesce(({expr})::text, 'null')"


def _ts(expr: str) -> str:
    """A naive UTC timestamp as the views write an aware one: whole seconds without a
    fraction, otherwise six digits, then Z."""
    return f"coalesce('\"' || replace(to_char({expr}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || 'Z\"', 'null')"


def _object(fields: list[tuple[str, str]], *, opening: bool = True) -> str:
    """SQL that concatenates ``"key":value`` pairs (each value already JSON text) in the
    views' field order, compact as pydantic writes them."""
    parts = [f"'{',' if i or not opening else '{'}\"{k}\":' || {v}" for i, (k, v) in enumerate(fields)]
    return " || ".join(parts) + " || '}'"


ATTACHMENT = _object([
    ("id", "a.id::text"), ("file_name", _str("a.file_name")), ("mime_type", _str("a.mime_type")),
    ("size", "a.size::text"), ("sha256", _str("a.sha256")), ("expired", "a.expired::text"),
    ("expires_at", _ts("a.expires_at")),
])

MESSAGE = _object([
    ("id", "m.id::text"), ("conversation_id", "m.conversation_id::text"), ("direction", _str("m.direction")),
    ("kind", _str("m.kind")), ("text", _str("m.text")), ("sender_agent_id", _int("m.sender_agent_id")),
    ("sender_name", _str("ms.name")), ("status", _str("m.status")), ("status_reason", _str("m.status_reason")),
    ("error_code", _str("m.error_code")),
    ("can_retry", "coalesce(m.status = 'failed' AND NOT m.rule_refused AND p.status = 'open', false)::text"),
    ("created_at", _ts("m.created_at")),
    ("attachments", f"coalesce((SELECT '[' || string_agg({ATTACHMENT}, ',' ORDER BY a.id) || ']' "
                    "FROM attachment a WHERE a.message_id = m.id), '[]')"),
    # The column's JSON text as stored (its spacing may differ from pydantic's, never its value).
    ("meta", "CASE WHEN json_typeof(m.meta) = 'object' THEN m.meta::text ELSE '{}' END"),
])

#: ConversationView's fields after ``customer_display`` (the part before it is the replica's:
#: the channel's kind and label, and the display that the channel type's rules make), then
#: SyncConversation's.
REST = _object([
    ("customer_name", _str("p.customer_name")), ("contact_id", _int("p.contact_id")),
    ("contact_name", _str("ct.display_name")), ("status", _str("p.status")), ("archived", "p.archived::text"),
    ("assigned_agent_id", _int("p.assigned_agent_id")), ("assigned_agent_name", _str("aa.name")),
    ("queue_id", _int("p.queue_id")), ("queue_name", _str("q.name")),
    ("last_activity_at", _ts("p.last_activity_at")), ("last_message_preview", _str("p.last_message_preview")),
    ("last_message_direction", _str("p.last_message_direction")),
    ("last_message_sender_id", _int("snd.sender_agent_id")), ("last_message_sender_name", _str("sa.name")),
    ("unread_count", "coalesce(unr.n, 0)::text"),
    ("unread", "(coalesce(unr.n, 0) > 0 OR coalesce(r.marked_unread, false))::text"),
    ("messages", "coalesce(msgs.items, '[]')"), ("more_messages", "coalesce(msgs.more, false)::text"),
], opening=False)

PAGE = text(f"""
WITH page AS (
    SELECT c.* FROM conversation c
    WHERE c.id > :after AND (:admin OR c.assigned_agent_id = :agent OR (c.assigned_agent_id IS NULL
          AND (c.queue_id IS NULL OR c.queue_id = ANY(:queues))))
    ORDER BY c.id LIMIT :limit
),
-- Each conversation's newest messages and one more (is there more?), ranked newest first:
-- LATERAL with LIMIT, so each is read backwards along ix_message_conversation, however
-- large the table (a join by id could be planned as a scan of all of it).
recent AS (
    SELECT m.*, row_number() OVER (PARTITION BY m.conversation_id ORDER BY m.id DESC) AS rank
    FROM page p CROSS JOIN LATERAL (
        SELECT * FROM message WHERE conversation_id = p.id AND :n > 0 ORDER BY id DESC LIMIT :n + 1) m
),
msgs AS (
    SELECT m.conversation_id, '[' || string_agg({MESSAGE}, ',' ORDER BY m.id) FILTER (WHERE m.rank <= :n) || ']'
           AS items, max(m.rank) > :n AS more
    FROM recent m JOIN page p ON p.id = m.conversation_id
    LEFT JOIN agent ms ON ms.id = m.sender_agent_id
    GROUP BY m.conversation_id
)
SELECT p.id, p.channel_id, p.customer_address, {REST} AS rest
FROM page p
LEFT JOIN msgs ON msgs.conversation_id = p.id
LEFT JOIN read_state r ON r.conversation_id = p.id AND r.agent_id = :agent
LEFT JOIN contact ct ON ct.id = p.contact_id
LEFT JOIN agent aa ON aa.id = p.assigned_agent_id
LEFT JOIN message_queue q ON q.id = p.queue_id
-- Who wrote the last reply: the newest outbound message (a system row may come after it).
LEFT JOIN LATERAL (
    SELECT m.sender_agent_id FROM message m
    WHERE p.last_message_direction = 'out' AND m.conversation_id = p.id AND m.direction = 'out'
    ORDER BY m.id DESC LIMIT 1) snd ON true
LEFT JOIN agent sa ON sa.id = snd.sender_agent_id
-- Inbound messages after my read mark, counted only where the newest inbound one is after it.
LEFT JOIN LATERAL (
    SELECT count(*) AS n FROM message m
    WHERE p.last_inbound_message_id > coalesce(r.last_read_message_id, 0) AND m.conversation_id = p.id
      AND m.direction = 'in' AND m.id > coalesce(r.last_read_message_id, 0)) unr ON true
ORDER BY p.id
""").bindparams(bindparam("queues", type_=ARRAY(BigInteger)))


#: A string as pydantic writes it: UTF-8 kept, control characters escaped.
dumps = json.JSONEncoder(ensure_ascii=False).encode


def conversations(s: Session, agent_id: int, admin: bool, queues: list[int], after: int, limit: int, messages: int,
                  channel: Callable[[int], tuple[str, Any]], display: Callable[[Any, str], str]) -> list[tuple[int, str]]:
    """Up to ``limit`` conversations after ``after`` that the agent sees, by id: each id and
    its SyncConversation JSON. ``channel(id)`` gives a channel's ``"channel_kind":…,
    "channel_label":…`` JSON text and its rules, ``display(rules, address)`` a customer's display."""
    # The statement's estimated cost passes jit_above_cost, and compiling its long expressions
    # took PostgreSQL 15 about 140 ms a page, seven times what running them takes.
    s.connection().exec_driver_sql("SET LOCAL jit = off")
    rows = s.connection().execute(PAGE, {"after": after, "admin": admin, "agent": agent_id, "queues": queues,
                                         "limit": limit, "n": messages}).all()
    out = []
    for cid, channel_id, address, rest in rows:
        head, rules = channel(channel_id)
        out.append((cid, f'{{"id":{cid},"channel_id":{channel_id},{head},"customer_address":{dumps(address)},'
                         f'"customer_display":{dumps(display(rules, address))}{rest}'))
    return out
