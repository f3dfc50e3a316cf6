"""The per-agent event log a syncing client reads from the database (a stream further
behind than its replica's memory reads it this way), on SQLite and PostgreSQL."""

from __future__ import annotations

from tray_agent.core.sync import CONVERSATION_REMOVED


def test_a_colleagues_claim_of_a_conversation_routed_to_no_queue_removes_it_from_my_log(world):
    """The claim's event is visible to its claimer only; the SQL filter must still read it
    so that every other agent who saw the conversation gets its removal."""
    bea = world.inbox.add_agent("Bea", "bea@example.com")
    conv = world.conv_of(world.customer_says(world.sms, "+14155550199", "hi"))
    before = world.inbox.last_seq()
    world.inbox.claim(bea.id, conv)
    mine, _ = world.inbox.events_for(world.me.id, before)
    assert [(e.type, e.conversation_id) for e in mine if e.type == CONVERSATION_REMOVED] == [(CONVERSATION_REMOVED, conv)]
    theirs, _ = world.inbox.events_for(bea.id, before)
    assert CONVERSATION_REMOVED not in [e.type for e in theirs]
