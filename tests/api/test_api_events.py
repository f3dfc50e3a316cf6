"""The event log over HTTP and the live stream: resuming from a sequence number (?after=,
Last-Event-ID), waking on commits rather than polling, resync, and presence."""

from __future__ import annotations

import time

import pytest


def test_the_event_log_pages_after_a_sequence_number_and_shows_only_what_the_agent_may_see(agent, client):
    start = agent.inbox.last_seq()
    mine = agent.conversation_of(agent.inbound(agent.sms, "+14155550301", "for the log"))
    theirs = agent.conversation_of(agent.inbound(agent.sms, "+14155550302", "for bea"))
    agent.inbox.claim(agent.bea.id, theirs)
    agent.inbox.reply(agent.bea.id, theirs, "Bea answers")
    events = client.get("/api/events", params={"after": start}).json()
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events) and events[0]["seq"] > start
    assert any(e["type"] == "message.created" and e["conversation_id"] == mine for e in events)
    assert not any(e["conversation_id"] == theirs and e["type"] == "message.created"
                   and e["data"].get("direction") == "out" for e in events)
    assert client.get("/api/events", params={"after": -1}).status_code == 422


def test_the_stream_starts_with_hello_then_replays_what_came_after(agent, sse):
    start = agent.inbox.last_seq()
    mid = agent.inbound(agent.sms, "+14155550303", "replayed")
    r = sse(f"/api/events/stream?after={start}").wait(lambda r: any(e["message_id"] == mid for e in r.data()))
    assert r.status == 200
    assert r.events[0]["event"] == "hello" and r.events[0]["retry"] == "1000"
    # Nothing before ``after``; everything after it that this agent may see, in order.
    ids = [int(e["id"]) for e in r.events if "id" in e]
    assert ids == sorted(ids) and ids[0] > start
    assert [e["seq"] for e in r.data()] == [e.seq for e in agent.inbox.events_since(agent.me.id, start)][:len(ids)]


def test_a_reconnect_resumes_from_last_event_id(agent, sse):
    start = agent.inbox.last_seq()
    agent.inbound(agent.sms, "+14155550304", "seen before the drop")
    seen = agent.inbox.last_seq()
    missed = agent.inbound(agent.sms, "+14155550304", "missed while away")
    # The browser sends the last id it saw; it wins over the ?after= of the original URL.
    r = sse(f"/api/events/stream?after={start}", headers={"Last-Event-ID": str(seen)})
    r.wait(lambda r: any(e["message_id"] == missed for e in r.data()))
    assert min(e["seq"] for e in r.data()) == seen + 1


def test_the_stream_wakes_on_a_commit_and_does_not_poll(agent, sse, monkeypatch):
    calls = []
    real = agent.inbox.events_since
    monkeypatch.setattr(agent.inbox, "events_since", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    r = sse().wait(lambda r: r.events and r.events[0].get("event") == "hello")
    time.sleep(1.0)
    idle_reads = len(calls)
    assert idle_reads <= 2, f"{idle_reads} reads of the log in one idle second"
    t0 = time.perf_counter()
    mid = agent.inbound(agent.sms, "+14155550305", "wake up")
    r.wait(lambda r: any(e["message_id"] == mid for e in r.data()), timeout=2)
    assert time.perf_counter() - t0 < 0.5


def test_a_client_ahead_of_the_log_is_told_to_resync(agent, sse):
    last = agent.inbox.last_seq()
    r = sse("/api/events/stream?after=999999999").wait(lambda r: any(e.get("event") == "resync" for e in r.events))
    resync = next(e for e in r.events if e.get("event") == "resync")
    assert int(resync["id"]) >= last


def test_a_bad_last_event_id_is_422(client):
    r = client.get("/api/events/stream", headers={"Last-Event-ID": "yesterday"})
    assert r.status_code == 422 and r.json()["message"] == "Last-Event-ID must be an event sequence number."


def test_presence_is_recorded_while_a_stream_is_connected(agent, client, sse):
    me = lambda: next(a for a in client.get("/api/agents").json() if a["id"] == agent.me.id)
    sse().wait(lambda r: bool(r.events))
    for _ in range(50):
        if me()["online"]:
            break
        time.sleep(0.05)
    assert me()["online"] is True and me()["last_seen_at"] == "2026-03-10T09:00:00Z"


@pytest.mark.parametrize("after", ["-1", "x"])
def test_a_bad_after_is_422(client, after):
    assert client.get("/api/events/stream", params={"after": after}).status_code == 422
