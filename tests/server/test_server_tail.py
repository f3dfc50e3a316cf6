"""The replica's reader of the event log keeps the newest events in memory for every stream
to catch up from: as small plain records, so a busy replica's memory stays flat."""

from __future__ import annotations

import asyncio
import gc
import json
import time
import tracemalloc
from typing import Any

import httpx

from tests.server.live import Team
from tests.server.test_server_sync import sse_frames
from tray_agent.channels import InboundMessage
from tray_agent.server.tail import LogTail


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


def test_a_caught_up_stream_is_handed_only_the_events_that_may_concern_it(team: Team):
    """Once a stream has caught up with the tail, the tail hands it the events of its own
    queues (and everyone's), and its cursor still moves past the rest: a stream filters what
    is for it, not every event of every queue."""
    async def run() -> None:
        tail = LogTail(team.inbox, reread=0.05)
        tail.start()
        try:
            while tail.end is None:
                await asyncio.sleep(0.01)
            carl, bea = tail.reader(team.agents["Carl"].id), tail.reader(team.agents["Bea"].id)
            carl.scope(False, set())
            bea.scope(False, {team.queue.id})
            start = tail.end
            assert tail.take(carl, start, 500) == ([], start) and tail.take(bea, start, 500) == ([], start)
            conv = await asyncio.to_thread(team.customer_says, "for the queue")
            while tail.end == start:
                await asyncio.sleep(0.01)
            assert bea.ready.is_set() and not carl.ready.is_set()
            assert tail.take(carl, start, 500) == ([], tail.end)
            rows, upto = tail.take(bea, start, 500)
            assert [(r.type, r.conversation_id) for r in rows] == [
                ("conversation.created", conv), ("message.created", conv)] and upto == tail.end
        finally:
            await tail.stop()

    asyncio.run(run())


def test_a_stream_that_joins_a_queue_gets_what_the_queue_got_since_its_cursor(team: Team):
    """The tail chose a caught-up stream's events by its old queues: when the agent joins a
    queue, the stream reads everything since its cursor again, with the new queues."""
    with team.http("Carl") as c:
        since = c.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"]
    try:
        with team.http("Carl") as c, c.stream("GET", "/sync/v1/events", params={"since": since},
                                              headers={"Accept": "text/event-stream"},
                                              timeout=httpx.Timeout(10)) as r:
            time.sleep(2)  # the stream's first step: caught up, before the message
            conv = team.customer_says("before Carl joined")
            team.inbox.set_queue_members(team.queue.id, [team.agents[n].id for n in ("Alice", "Bea", "Carl")])
            for _, kind, data in sse_frames(r):
                if json.loads(data)["conversation_id"] == conv:
                    assert kind == "conversation.created"
                    break
    finally:
        team.inbox.set_queue_members(team.queue.id, [team.agents[n].id for n in ("Alice", "Bea")])


def test_a_burst_of_commits_is_read_in_a_few_reads_and_none_is_missed(team: Team):
    """The tail reads at most once per ``gap``: the commits of a busy server (both replicas')
    that come meanwhile are read together, not one read per commit, and every event is read."""
    reads: list[int] = []

    class Counting:  # the inbox as the tail uses it, counting the tail's reads
        bus = team.inbox.bus
        event_bounds = staticmethod(team.inbox.event_bounds)

        @staticmethod
        def events_tail(after: int, limit: int) -> Any:
            reads.append(after)
            return team.inbox.events_tail(after, limit)

    async def run() -> None:
        tail = LogTail(Counting(), reread=5.0, gap=0.5)  # type: ignore[arg-type]  # (duck)
        tail.start()
        try:
            while tail.end is None:
                await asyncio.sleep(0.01)
            start = tail.end
            convs = [await asyncio.to_thread(team.customer_says, f"burst {i}") for i in range(10)]
            deadline = time.monotonic() + 10
            while {r.conversation_id for r in (tail.after(start, 500) or ([], 0))[0]} != set(convs):
                assert time.monotonic() < deadline, "the tail did not read every commit"
                await asyncio.sleep(0.05)
        finally:
            await tail.stop()

    t0 = time.monotonic()
    asyncio.run(run())
    # Ten commits in well under the gaps they would need one read each.
    assert len(reads) <= 2 + (time.monotonic() - t0) / 0.5, reads
