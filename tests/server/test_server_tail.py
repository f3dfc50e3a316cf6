"""The replica's reader of the event log keeps the newest events in memory for every stream
to catch up from: as small plain records, so a busy replica's memory stays flat."""

from __future__ import annotations

import gc
import tracemalloc

from tests.server.live import Team
from tray_agent.channels import InboundMessage


def test_the_log_tail_keeps_each_event_in_well_under_a_kilobyte(team: Team):
    start = team.inbox.event_bounds()[1]
    team.inbox.receive_batch(team.sms.id, [InboundMessage(f"tail-{i}", f"+1646555{i:04d}", f"hello {i}")
                                           for i in range(1000)])
    team.inbox.events_tail(start, 10)  # statement caches warmed: not counted below
    gc.collect()
    tracemalloc.start()
    try:
        rows, upto = team.inbox.events_tail(start, 5000)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(rows) >= 2000 and upto == rows[-1].seq  # a conversation and a message each
    assert {r.type for r in rows} >= {"conversation.created", "message.created"}
    # An ORM instance with its state took ~1.7 KB; 20,000 of them were most of a replica's RSS.
    assert held / len(rows) < 1000, f"{held / len(rows):.0f} bytes per event kept"
