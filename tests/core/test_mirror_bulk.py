"""The cache's bulk message write keeps times exactly as the ORM stores them (the inbox sorts
and compares them as text), whatever spelling of UTC or offset the server sent."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from tray_agent.core.columns import UTCDateTime
from tray_agent.core.mirror_bulk import stored_time


@pytest.mark.parametrize("wire", ["2026-03-10T09:00:00Z", "2026-03-10T09:00:00.5Z", "2026-03-10T09:00:00.123456Z",
                                  "2026-03-10T11:00:00.25+02:00", "2026-03-10T09:00:00+00:00",
                                  "2026-03-10T09:00:00"])
def test_a_wire_time_is_stored_as_the_orm_stores_it(wire: str) -> None:
    column = UTCDateTime()
    to_db = column.dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())
    assert to_db is not None
    assert stored_time(wire) == to_db(column.process_bind_param(TypeAdapter(datetime).validate_python(wire), None))


def test_no_time_stays_none() -> None:
    assert stored_time(None) is None


def _page(world, conversations: int, per: int, *, status: str = "sent", words: str = ""):  # type: ignore[no-untyped-def]
    """Snapshot-page conversations as the server sends them, each with ``per`` messages."""
    convs = []
    for i in range(conversations):
        cid = 500 + i
        msgs = [{"id": 1000 + i * per + j, "conversation_id": cid, "direction": "out" if j % 2 else "in",
                 "kind": "text", "text": f"parcel {j} of case{cid}x{words}", "sender_agent_id": None,
                 "status": status if j % 2 else None, "status_reason": None, "error_code": None,
                 "can_retry": False, "created_at": f"2026-03-10T09:{j % 60:02d}:00.5Z",
                 "meta": {"via": "sandbox"} if j == 0 else {}, "attachments": []} for j in range(per)]
        convs.append({"id": cid, "channel_id": world.sms.id, "customer_address": f"+1415555{cid:04d}",
                      "status": "open", "last_activity_at": "2026-03-10T10:00:00Z", "unread_count": 0,
                      "messages": msgs})
    return convs


def test_a_bulk_page_over_held_messages_indexes_each_message_once_and_updates_the_held(sqlite_world) -> None:
    """A page big enough for the bulk path (core/mirror_bulk.py BULK_INDEX_ROWS), whose first
    conversations the cache already holds: the held rows take the page's status, every
    message is found by search exactly once, and a message's meta survives."""
    world = sqlite_world
    world.inbox.mirror_conversations(_page(world, 10, 20, status="queued"), me=world.me.id, synced=True)
    convs = _page(world, 80, 20)
    dup = dict(convs[-1]["messages"][-1])
    world.inbox.mirror_conversations(convs, [dup], me=world.me.id, synced=True)

    assert sorted(h.message.conversation_id for h in world.inbox.search(world.me.id, "case500x", limit=100)) \
        == [500] * 20
    assert len(world.inbox.search(world.me.id, "case579x", limit=100)) == 20
    first = world.inbox.history(world.me.id, 500, limit=50).items
    assert {m.status for m in first if m.direction == "out"} == {"sent"}
    with world.app.db.write() as s:
        from tray_agent.core.models import Message

        # The index holds exactly the messages' words, each once (SQLite raises otherwise).
        s.execute(text("INSERT INTO message_fts(message_fts, rank) VALUES ('integrity-check', 1)"))
        assert s.get(Message, 1000).meta == {"via": "sandbox"}
        assert s.get(Message, 1001).meta == {}


def test_a_bulk_page_spells_cjk_words_for_the_index_as_the_trigger_does(sqlite_world) -> None:
    world = sqlite_world
    world.inbox.mirror_conversations(_page(world, 60, 20, words=" お荷物は東京に"), me=world.me.id, synced=True)
    assert len(world.inbox.search(world.me.id, "case559x 東京", limit=100)) == 20
