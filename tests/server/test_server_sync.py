"""The sync contract a desktop builds on: a snapshot consistent with its cursor, the agent's
filtered event stream (SSE and long-poll) resuming from a cursor, removals when a
conversation leaves an agent's view, and must_resync for a cursor the server cannot serve."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from tests.server.live import CONSOLE_ACTOR, Team


def cursor_of(team: Team, who: str) -> str:
    with team.http(who) as c:
        return str(c.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"])


def events(team: Team, who: str, since: str, **params: Any) -> dict[str, Any]:
    with team.http(who) as c:
        r = c.get("/sync/v1/events", params={"since": since, "wait": 0, **params})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_snapshot_holds_conversations_with_messages_agents_queues_and_channels(team: Team):
    conv = team.customer_says("my parcel is late")
    team.inbox.reply(team.agents["Bea"].id, conv, "Let me check")
    before = team.inbox.event_bounds()[1]
    with team.http("Bea") as c:
        pages, after = [], 0
        while True:
            r = c.get("/sync/v1/snapshot", params={"after": after, "limit": 2, "messages": 5})
            assert r.status_code == 200
            pages.append(r.json())
            if r.json()["next_after"] is None:
                break
            after = r.json()["next_after"]
    first = pages[0]
    epoch, seq = first["cursor"].rsplit(":", 1)
    # At least as new as the reply; the outbox may have committed "sent" meanwhile.
    assert epoch == first["epoch"] and before <= int(seq) <= team.inbox.event_bounds()[1]
    mine = [x for p in pages for x in p["conversations"] if x["id"] == conv][0]
    assert [m["text"] for m in mine["messages"]] == ["my parcel is late", "Let me check"]
    assert mine["assigned_agent_id"] == team.agents["Bea"].id
    assert {a["name"] for a in first["agents"]} >= {"Alice", "Bea", "Carl", "Ada"}
    assert [q["name"] for q in first["queues"]] == ["Support"]
    sms = [ch for ch in first["channels"] if ch["name"] == "Support SMS"][0]
    assert sms["rules"]["business_can_start"] is True and sms["rules"]["max_file_bytes"] > 0
    assert first["my_queue_ids"] == [team.queue.id]


def test_later_snapshot_pages_leave_the_directory_out_and_keep_the_conversation_shape(team: Team):
    convs = {team.customer_says(f"page test {i}") for i in range(3)}
    with team.http("Bea") as c:
        pages, after = [], 0
        while True:
            page = c.get("/sync/v1/snapshot", params={"after": after, "limit": 1, "messages": 5}).json()
            pages.append(page)
            if page["next_after"] is None:
                break
            after = page["next_after"]
    first, later = pages[0], pages[1:]
    assert len(later) >= 2 and {"agents", "queues", "channels"} <= first.keys()
    # The directory once per snapshot: later pages carry the conversations, cursor and me.
    for page in later:
        assert not {"agents", "queues", "channels"} & page.keys()
        assert page.keys() == first.keys() - {"agents", "queues", "channels"}
        assert [x.keys() for x in page["conversations"]] == [first["conversations"][0].keys()]
    assert convs <= {x["id"] for p in pages for x in p["conversations"]}


def test_the_snapshots_me_counts_my_open_conversations_as_me_does(team: Team):
    for text in ("open count one", "open count two"):
        team.inbox.reply(team.agents["Alice"].id, team.customer_says(text), "On it")
    with team.http("Alice") as c:
        me = c.get("/sync/v1/me").json()
        snap = c.get("/sync/v1/snapshot", params={"limit": 1000, "messages": 0}).json()
    mine = [x for x in snap["conversations"] if x["assigned_agent_id"] == me["id"] and x["status"] == "open"]
    assert me["open_count"] >= 2 and snap["me"]["open_count"] == me["open_count"] == len(mine)


def test_events_after_a_cursor_then_resume_from_the_last_one(team: Team):
    since = cursor_of(team, "Alice")
    conv = team.customer_says("first")
    got = events(team, "Alice", since)
    assert [e["type"] for e in got["events"]] == ["conversation.created", "message.created"]
    assert all(e["conversation_id"] == conv for e in got["events"])
    assert got["cursor"] == got["events"][-1]["cursor"]
    team.customer_says("second", address=team.address_of(conv))
    again = events(team, "Alice", got["cursor"])
    assert [e["type"] for e in again["events"]] == ["message.created"]
    # Nothing new: the same cursor back, no events.
    assert events(team, "Alice", again["cursor"]) == {"events": [], "cursor": again["cursor"]}


def test_the_cursor_moves_past_events_an_agent_may_not_see(team: Team):
    since = cursor_of(team, "Carl")
    team.customer_says("for the queue only")
    got = events(team, "Carl", since)
    assert got["events"] == [] and got["cursor"] != since
    assert int(got["cursor"].rsplit(":", 1)[1]) == team.inbox.event_bounds()[1]


def test_a_colleague_taking_it_over_removes_it_from_the_other_members_streams(team: Team):
    conv = team.customer_says("who can help?")
    since = {who: cursor_of(team, who) for who in ("Alice", "Bea")}
    with team.http("Alice") as c:
        r = c.post(f"/sync/v1/conversations/{conv}/claim", headers={"Idempotency-Key": "claim-1"})
    assert r.status_code == 200
    bea = events(team, "Bea", since["Bea"])["events"]
    assert [e["type"] for e in bea if e["conversation_id"] == conv][-1] == "conversation.removed"
    alice = events(team, "Alice", since["Alice"])["events"]
    assert "conversation.removed" not in [e["type"] for e in alice]
    # The event that confirms Alice's action carries her key.
    assert any(e["data"].get("client_key") == "claim-1" and e["data"].get("change") == "claimed" for e in alice)


def test_a_transfer_removes_it_for_the_sender_and_gives_the_new_owner_the_note(team: Team):
    conv = team.customer_says("invoice question")
    team.inbox.claim(team.agents["Alice"].id, conv)
    since = {who: cursor_of(team, who) for who in ("Alice", "Carl")}
    with team.http("Alice") as c:
        r = c.post(f"/sync/v1/conversations/{conv}/transfer", headers={"Idempotency-Key": "t-1"},
                   json={"to_agent_id": team.agents["Carl"].id, "note": "he asked for billing"})
    assert r.status_code == 200 and r.json()["assigned_agent_id"] == team.agents["Carl"].id
    alice = [e["type"] for e in events(team, "Alice", since["Alice"])["events"] if e["conversation_id"] == conv]
    assert alice[-1] == "conversation.removed" and "conversation.transferred" in alice
    carl = events(team, "Carl", since["Carl"])["events"]
    transfer = [e for e in carl if e["type"] == "conversation.transferred"][0]
    assert transfer["data"]["note"] == "he asked for billing"
    with team.http("Carl") as c:
        history = c.get(f"/sync/v1/conversations/{conv}/messages").json()["items"]
    assert [m["text"] for m in history][0] == "invoice question"
    assert "he asked for billing" in history[-1]["text"] and history[-1]["kind"] == "transfer"


def test_a_cursor_from_another_epoch_or_ahead_of_the_log_must_resync(team: Team):
    since = cursor_of(team, "Alice")
    epoch, seq = since.rsplit(":", 1)
    with team.http("Alice") as c:
        for bad in (f"0000000000000000:{seq}", f"{epoch}:{int(seq) + 1000}"):
            r = c.get("/sync/v1/events", params={"since": bad, "wait": 0})
            assert r.status_code == 410 and r.json()["error"] == "must_resync"
        r = c.get("/sync/v1/events", params={"since": "garbage", "wait": 0})
        assert r.status_code == 422 and r.json()["error"] == "invalid_input"


def test_a_new_database_epoch_sends_every_old_cursor_to_resync(team: Team):
    since = cursor_of(team, "Alice")
    team.accounts.new_epoch(CONSOLE_ACTOR)
    with team.http("Alice") as c:
        r = c.get("/sync/v1/events", params={"since": since, "wait": 0})
        assert r.status_code == 410 and r.json()["error"] == "must_resync"
        fresh = c.get("/sync/v1/snapshot", params={"limit": 1}).json()["cursor"]
        assert fresh.split(":")[0] != since.split(":")[0]
        assert c.get("/sync/v1/events", params={"since": fresh, "wait": 0}).status_code == 200
    assert ("console", "epoch.renewed", "server") in [(e.actor, e.action, e.target) for e in team.accounts.audit_log(5)]


def test_long_poll_waits_for_the_next_event(team: Team):
    since = cursor_of(team, "Bea")
    threading.Timer(0.5, team.customer_says, args=("late news",)).start()
    t0 = time.monotonic()
    with team.http("Bea") as c:
        r = c.get("/sync/v1/events", params={"since": since, "wait": 10})
    assert r.status_code == 200 and [e["type"] for e in r.json()["events"]][-1] == "message.created"
    assert 0.4 < time.monotonic() - t0 < 8


def sse_frames(r: httpx.Response) -> Iterator[tuple[str, str, str]]:
    """(id, event, raw data) of each data-carrying frame of an SSE response, as they come."""
    block: dict[str, str] = {}
    for line in r.iter_lines():
        if line.startswith(("id:", "event:", "data:")):
            k, _, v = line.partition(":")
            block[k] = v.strip()
        elif line == "" and "data" in block:
            yield block["id"], block.get("event", "message"), block["data"]
            block = {}


def test_sse_stream_delivers_events_with_cursor_ids_and_resumes_with_last_event_id(team: Team):
    since = cursor_of(team, "Bea")
    conv = team.customer_says("streaming")
    seen: list[tuple[str, dict[str, Any]]] = []
    with team.http("Bea") as c, c.stream("GET", "/sync/v1/events", params={"since": since},
                                         headers={"Accept": "text/event-stream"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for frame_id, _, data in sse_frames(r):
            seen.append((frame_id, json.loads(data)))
            if len(seen) == 2:
                break
    assert [d["type"] for _, d in seen] == ["conversation.created", "message.created"]
    assert all(i == d["cursor"] and d["conversation_id"] == conv for i, d in seen)
    team.customer_says("more", address=team.address_of(conv))
    with team.http("Bea") as c:
        r = c.get("/sync/v1/events", params={"wait": 0}, headers={"Last-Event-ID": seen[-1][0]})
    assert [e["type"] for e in r.json()["events"]] == ["message.created"]


def _sse_until(team: Team, who: str, since: str, last_type: str, conv: int) -> list[tuple[str, str, str]]:
    """(id, event, raw data) of ``who``'s stream from ``since`` up to the first ``last_type`` about ``conv``."""
    got: list[tuple[str, str, str]] = []
    with team.http(who) as c, c.stream("GET", "/sync/v1/events", params={"since": since},
                                       headers={"Accept": "text/event-stream"}, timeout=httpx.Timeout(10)) as r:
        for frame in sse_frames(r):
            got.append(frame)
            if frame[1] == last_type and json.loads(frame[2])["conversation_id"] == conv:
                return got
    raise AssertionError(f"{who}'s stream ended before {last_type}")


def test_a_take_over_streams_one_shared_update_to_both_members_and_the_removal_to_the_other(team: Team):
    """Each event's SSE frame is serialised once per replica and shared by every stream: the
    claimer and the member who loses the conversation get the same update, byte for byte,
    and only the latter a removal, under the same id."""
    conv = team.customer_says("who takes it?")
    since = {who: cursor_of(team, who) for who in ("Alice", "Bea")}
    with team.http("Alice") as c:
        assert c.post(f"/sync/v1/conversations/{conv}/claim", headers={"Idempotency-Key": "sse-claim"}).status_code == 200
    alice = _sse_until(team, "Alice", since["Alice"], "conversation.updated", conv)
    bea = _sse_until(team, "Bea", since["Bea"], "conversation.removed", conv)
    update = alice[-1]
    assert json.loads(update[2])["data"]["change"] == "claimed" and update[0] == json.loads(update[2])["cursor"]
    assert bea[-2] == update  # the same frame: id, type and data
    removed_id, _, removed = bea[-1]
    assert removed_id == update[0] and json.loads(removed)["data"]["client_key"] == "sse-claim"
    assert json.loads(removed)["type"] == "conversation.removed"


def test_a_repeated_idempotency_key_acts_once_and_replays_the_first_answer(team: Team):
    conv = team.customer_says("send it once")
    with team.http("Bea") as c:
        first = c.post(f"/sync/v1/conversations/{conv}/reply", json={"text": "Once only"},
                       headers={"Idempotency-Key": "reply-once"})
        again = c.post(f"/sync/v1/conversations/{conv}/reply", json={"text": "Once only"},
                       headers={"Idempotency-Key": "reply-once"})
        by_field = c.post(f"/sync/v1/conversations/{conv}/reply", json={"text": "Once only", "client_key": "reply-once"})
        other = c.post(f"/sync/v1/conversations/{conv}/close", headers={"Idempotency-Key": "reply-once"})
        history = c.get(f"/sync/v1/conversations/{conv}/messages").json()["items"]
    assert first.status_code == again.status_code == by_field.status_code == 201
    assert first.json() == again.json() == by_field.json()
    assert [m["text"] for m in history].count("Once only") == 1
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"


def test_a_refusal_is_replayed_too_with_its_stable_code(team: Team):
    conv = team.customer_says("closing soon")
    team.inbox.close(team.agents["Bea"].id, conv)
    with team.http("Bea") as c:
        answers = [c.post(f"/sync/v1/conversations/{conv}/reply", json={"text": "hi"},
                          headers={"Idempotency-Key": "closed-1"}) for _ in range(2)]
        missing = c.post(f"/sync/v1/conversations/{conv}/reply", json={"text": "hi"})
    assert [a.status_code for a in answers] == [409, 409]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["error"] == "conversation_closed" and "reopen" in answers[0].json()["message"]
    assert missing.status_code == 422 and "Idempotency-Key" in missing.json()["message"]


def test_fifty_simultaneous_claims_over_http_have_one_winner_and_49_told_who(team: Team):
    names = [f"Racer{i}" for i in range(50)]
    for n in names:
        if n not in team.agents:
            team.add_agent(n)
    team.inbox.set_queue_members(team.queue.id, [team.agents[n].id for n in ["Alice", "Bea", *names]])
    try:
        conv = team.customer_says("first come first served")
        barrier = threading.Barrier(len(names))
        results: dict[str, httpx.Response] = {}

        def claim(name: str) -> None:
            with team.http(name) as c:
                barrier.wait()
                results[name] = c.post(f"/sync/v1/conversations/{conv}/claim",
                                       headers={"Idempotency-Key": f"race-{name}"})

        threads = [threading.Thread(target=claim, args=(n,)) for n in names]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
        winners = [n for n, r in results.items() if r.status_code == 200]
        losers = [r.json() for r in results.values() if r.status_code == 409]
        assert len(winners) == 1 and len(losers) == 49
        assert all(x["error"] == "already_taken" and x["owner_name"] == winners[0] for x in losers)
        picked = [m for m in team.inbox.history(team.agents[winners[0]].id, conv).items if m.kind == "picked_up"]
        assert len(picked) == 1 and picked[0].text == f"{winners[0]} picked up this conversation"
    finally:
        team.inbox.set_queue_members(team.queue.id, [team.agents["Alice"].id, team.agents["Bea"].id])


def test_the_sync_api_documents_itself(team: Team):
    with team.http() as c:
        paths = c.get("/sync/v1/openapi.json").json()["paths"]
    assert {"/sync/v1/sign-in", "/sync/v1/snapshot", "/sync/v1/events", "/sync/v1/conversations/{conversation_id}/reply",
            "/sync/v1/conversations/{conversation_id}/claim", "/sync/v1/conversations/{conversation_id}/transfer"} <= set(paths)
    # The desktop's own API is not served by the team server.
    assert not any(p.startswith("/api/") for p in paths)


def test_leaving_a_queue_tells_the_agent_which_queue_they_left(team: Team):
    since = cursor_of(team, "Bea")
    members = [team.agents["Alice"].id, team.agents["Bea"].id]
    team.inbox.set_queue_members(team.queue.id, [team.agents["Alice"].id])
    try:
        got = [e for e in events(team, "Bea", since)["events"] if e["data"].get("change") == "queue"]
        assert got[-1]["data"]["queue_id"] == team.queue.id and got[-1]["data"]["removed"] == [team.agents["Bea"].id]
        with team.http("Bea") as c:
            assert c.get("/sync/v1/snapshot").json()["my_queue_ids"] == []
    finally:
        team.inbox.set_queue_members(team.queue.id, members)


def test_an_admin_reassigning_a_colleagues_conversation_is_in_the_audit_log(team: Team):
    conv = team.customer_says("escalate me")
    team.inbox.claim(team.agents["Alice"].id, conv)
    with team.http("Ada") as c:
        r = c.post(f"/sync/v1/conversations/{conv}/transfer", json={"to_agent_id": team.agents["Bea"].id},
                   headers={"Idempotency-Key": "ada-1"})
    assert r.status_code == 200 and r.json()["assigned_agent_id"] == team.agents["Bea"].id
    assert ("Ada", "conversation.transfer", f"conversation:{conv}") in [
        (e.actor, e.action, e.target) for e in team.accounts.audit_log(10)]
    with team.http("Alice") as c:
        refused = c.post(f"/sync/v1/conversations/{conv}/transfer", json={"to_agent_id": team.agents["Carl"].id},
                         headers={"Idempotency-Key": "alice-late"})
    assert refused.status_code == 404  # no longer hers to see


def test_a_connected_desktop_shows_its_agent_online_to_colleagues(team: Team):
    from datetime import timedelta

    team.clock.advance(timedelta(minutes=10))  # everyone's last sign of life is old now
    with team.http("Carl") as c:
        c.get("/sync/v1/events", params={"since": cursor_of(team, "Carl"), "wait": 0})
    with team.http("Bea") as c:
        people = {a["name"]: a["online"] for a in c.get("/sync/v1/snapshot", params={"limit": 1}).json()["agents"]}
    assert people["Carl"] is True and people["Alice"] is False
