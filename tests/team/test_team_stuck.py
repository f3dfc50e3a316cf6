"""A reply whose first request the server never finished (``in_progress``: its replica died
mid-action) holds back only the replies behind it in its own conversation; the others go out
at once, and it goes out once when the server decides it after its lease."""

from __future__ import annotations

import pytest

from tray_agent.server import idempotency
from tray_agent.team import upstream
from tests.server.live import Team
from tests.server.test_server_idempotency import cut_off, replies
from tests.team.desktop import wait_for

STUCK = "reply-cut-off-on-the-server"


def test_a_reply_stuck_in_progress_on_the_server_does_not_hold_back_other_conversations(
        team: Team, desktops, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    stuck_cid, other_cid = team.customer_says("first customer"), team.customer_says("second customer")
    alice = desktops("Alice")
    wait_for(lambda: {stuck_cid, other_cid} <= set(alice.inbox_ids()), what="both conversations in Alice's cache")
    keys = iter([STUCK])
    real_key = upstream.new_key
    monkeypatch.setattr(upstream, "new_key", lambda action: next(keys, None) or real_key(action))
    with cut_off(team, "Alice", STUCK, f"/sync/v1/conversations/{stuck_cid}/reply"):
        with alice.http() as c:
            assert c.post(f"/api/conversations/{stuck_cid}/messages", json={"text": "stuck"}).status_code == 201
            assert c.post(f"/api/conversations/{stuck_cid}/messages", json={"text": "after it"}).status_code == 201
            assert c.post(f"/api/conversations/{other_cid}/messages", json={"text": "goes on"}).status_code == 201
        wait_for(lambda: replies(team, other_cid) == ["goes on"], timeout=20, what="the other conversation's reply")
        assert replies(team, stuck_cid) == [] and alice.connection()["pending_replies"] == 2
        team.clock.advance(idempotency.LEASE.total_seconds() + 1)  # the server decides the cut-off one
        wait_for(lambda: replies(team, stuck_cid) == ["stuck", "after it"], timeout=20, what="the held replies, in order")
    wait_for(lambda: alice.connection()["pending"] == 0, what="Alice's outbox empty")
    assert replies(team, stuck_cid) == ["stuck", "after it"] and replies(team, other_cid) == ["goes on"]
