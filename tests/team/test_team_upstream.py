"""A team desktop's actions go to the server: replies written offline wait in the local
outbox and go out in order, once each, when the connection is back; a reply the server
refuses shows why on its message; take-over and transfer answer as the server does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tray_agent.core.mirror import ECHO_BASE
from tray_agent.core.models import Message, ReadState
from tests.server.live import Replica, Team, second_replica
from tests.team.desktop import wait_for
from tests.team.proxy import Relay


@pytest.fixture
def relay(team: Team) -> Iterator[Relay]:
    """A relay in front of the team server: ``block()`` takes a desktop offline (the other
    team tests import it from here)."""
    u = urlsplit(team.url)
    r = Relay(u.hostname or "127.0.0.1", u.port or 80)
    yield r
    r.stop()


def offline_in_a_conversation(team: Team, desktops, relay: Relay, who: str, text: str,  # type: ignore[no-untyped-def]
                              **kw: Any) -> tuple[int, Any]:
    """A customer writes; ``who``'s desktop (through the relay) has it, then goes offline."""
    cid = team.customer_says(text)
    desktop = desktops(who, relay.url, **kw)
    wait_for(lambda: cid in desktop.inbox_ids(), what=f"the conversation in {who}'s cache")
    relay.block()
    wait_for(lambda: desktop.connection()["state"] == "offline", what=f"{who}'s desktop offline")
    return cid, desktop


def sent_to(team: Team, address: str) -> list[str]:
    adapter = team.fake.adapters[team.sms.id]
    return [m.text for m in adapter.sent if m.customer_address == address]


def server_replies(team: Team, cid: int) -> list[str]:
    with team.app.db.read() as s:
        return list(s.execute(select(Message.text).where(Message.conversation_id == cid, Message.direction == "out")
                              .order_by(Message.id)).scalars())


def test_five_replies_written_offline_arrive_in_order_once_each(team: Team, desktops, relay: Relay) -> None:  # type: ignore[no-untyped-def]
    cid = team.customer_says("anyone there?")
    alice = desktops("Alice", relay.url)
    wait_for(lambda: cid in alice.inbox_ids(), what="the conversation in Alice's cache")
    relay.block()
    wait_for(lambda: alice.connection()["state"] == "offline", what="Alice's desktop noticing it is offline")
    texts = [f"reply {i}" for i in range(1, 6)]
    with alice.http() as c:
        for t in texts:
            r = c.post(f"/api/conversations/{cid}/messages", json={"text": t})
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "queued" and r.json()["id"] >= ECHO_BASE
        # A take-over needs the server: offline it is one clear 503.
        r = c.post(f"/api/conversations/{cid}/close")
        assert r.status_code == 503 and r.json()["error"] == "offline", r.text
        # A read mark waits too, but the banner's "5 replies waiting" counts replies only.
        assert c.post(f"/api/conversations/{cid}/read").status_code == 200
    conn = alice.connection()
    assert conn["pending_replies"] == 5 and conn["pending"] == 6 and conn["state"] == "offline"
    shown = [m["text"] for m in alice.get(f"/api/conversations/{cid}/messages")["items"] if m["direction"] == "out"]
    assert shown == texts
    relay.unblock()
    wait_for(lambda: alice.connection()["pending"] == 0, timeout=40, what="the outbox going upstream")
    address = team.address_of(cid)
    wait_for(lambda: len(sent_to(team, address)) == 5, timeout=30, what="five sends to the customer")
    assert sent_to(team, address) == texts
    assert server_replies(team, cid) == texts
    # The echoes gave way to the server's rows (the server's ids), nothing doubled.
    mine = wait_for(lambda: (ms := [m for m in alice.get(f"/api/conversations/{cid}/messages")["items"]
                                    if m["direction"] == "out"]) and all(m["id"] < ECHO_BASE for m in ms) and ms,
                    what="the echoes replaced")
    assert [m["text"] for m in mine] == texts


def test_a_reply_refused_because_a_colleague_took_the_conversation_shows_why(team: Team, desktops, relay: Relay) -> None:  # type: ignore[no-untyped-def]
    cid = team.customer_says("who can help?")
    bea = desktops("Bea", relay.url)
    wait_for(lambda: cid in bea.inbox_ids(), what="the conversation in Bea's cache")
    relay.block()
    wait_for(lambda: bea.connection()["state"] == "offline", what="Bea offline")
    with bea.http() as c:
        assert c.post(f"/api/conversations/{cid}/messages", json={"text": "I'll look"}).status_code == 201
        with team.http("Alice") as a:
            assert a.post(f"/sync/v1/conversations/{cid}/claim", headers={"Idempotency-Key": f"take-{cid}"}).status_code == 200
        relay.unblock()
        failed = wait_for(lambda: [m for m in bea.get(f"/api/conversations/{cid}/messages")["items"]
                                   if m["status"] == "failed"], timeout=40, what="the refusal on Bea's message")
    assert failed[0]["text"] == "I'll look" and failed[0]["error_code"] == "already_taken"
    assert "Alice" in failed[0]["status_reason"]
    # A rule's refusal: no Retry in the window, and asking anyway answers why.
    assert not failed[0]["can_retry"]
    with bea.http() as c:
        r = c.post(f"/api/messages/{failed[0]['id']}/retry")
    assert r.status_code == 409 and "Alice" in r.json()["message"], r.text
    assert bea.connection()["pending"] == 0
    assert server_replies(team, cid) == []


def test_claim_by_a_colleague_leaves_my_list_and_my_claim_answers_as_the_server(team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    cid = team.customer_says("first come")
    alice, bea = desktops("Alice"), desktops("Bea")
    for d in (alice, bea):
        wait_for(lambda d=d: cid in d.inbox_ids(), what="the conversation in both caches")
    with bea.http() as c:
        r = c.post(f"/api/conversations/{cid}/claim")
        assert r.status_code == 200 and r.json()["assigned_agent_id"] == team.agents["Bea"].id, r.text
    wait_for(lambda: cid not in alice.inbox_ids(), what="the conversation leaving Alice's list")
    with alice.http() as c:
        r = c.post(f"/api/conversations/{cid}/claim")
    assert r.status_code == 404, r.text  # gone from Alice's cache: as for anything she does not see
    assert bea.get(f"/api/conversations/{cid}")["assigned_agent_id"] == team.agents["Bea"].id


@pytest.fixture(scope="module")
def replica_b(team: Team, module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    with second_replica(team, module_db, tmp_path_factory.mktemp("replica-b")) as r:
        yield r


def test_when_its_server_goes_away_the_desktop_moves_to_the_next_and_misses_nothing(
        team: Team, desktops, relay: Relay, replica_b: Replica) -> None:  # type: ignore[no-untyped-def]
    cid = team.customer_says("before the fail-over")
    alice = desktops("Alice", f"{relay.url},{replica_b.url}")
    wait_for(lambda: cid in alice.inbox_ids(), what="the conversation in Alice's cache")
    assert alice.connection()["server"] == relay.url
    relay.block()  # the first server is gone for good
    during = team.customer_says("while the first server is gone")
    wait_for(lambda: during in alice.inbox_ids(), timeout=40, what="the message through the other server")
    conn = alice.connection()
    assert conn["server"] == replica_b.url and conn["state"] == "online"
    with alice.http() as c:
        assert c.post(f"/api/conversations/{during}/messages", json={"text": "got it"}).status_code == 201
    wait_for(lambda: server_replies(team, during) == ["got it"], timeout=30, what="the reply through the other server")


def test_connection_changes_are_local_events(team: Team, desktops, relay: Relay) -> None:  # type: ignore[no-untyped-def]
    alice = desktops("Alice", relay.url)
    wait_for(lambda: alice.connection()["state"] == "online", what="online")
    after = alice.get("/api/session")["last_seq"]
    relay.block()
    wait_for(lambda: alice.connection()["state"] == "offline", what="offline")
    relay.unblock()
    wait_for(lambda: alice.connection()["state"] == "online", timeout=40, what="online again")
    evs = [e for e in alice.get("/api/events", params={"after": after}) if e["type"] == "connection.updated"]
    states = [e["data"]["state"] for e in evs]
    assert "offline" in states and states[-1] == "online"
    assert {"mode", "server", "pending", "cursor", "last_error"} <= set(evs[0]["data"])


def test_marking_a_conversation_unread_goes_upstream_and_shows_on_my_other_desktop(team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    cid = team.customer_says("a question for later")
    laptop, office = desktops("Alice"), desktops("Alice")
    for d in (laptop, office):
        wait_for(lambda d=d: cid in d.inbox_ids(), what="the conversation on both of Alice's desktops")
    with laptop.http() as c:
        assert c.post(f"/api/conversations/{cid}/read").status_code == 200
    wait_for(lambda: office.get(f"/api/conversations/{cid}")["unread"] is False, what="read on the other desktop")
    with laptop.http() as c:
        r = c.post(f"/api/conversations/{cid}/unread")
        assert r.status_code == 200 and r.json()["unread"] is True, r.text

    def marked() -> bool:
        with team.app.db.read() as s:
            rs = s.get(ReadState, (cid, team.agents["Alice"].id))
            return bool(rs and rs.marked_unread)
    wait_for(marked, what="the unread mark on the server")
    wait_for(lambda: office.get(f"/api/conversations/{cid}")["unread"] is True, what="unread on the other desktop")
    assert laptop.connection()["pending"] == 0
