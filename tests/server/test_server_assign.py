"""Queues beyond Linkus, both off by default: automatic assignment to the available member
with the fewest open conversations under a capacity (retried when a member comes online,
turns available or frees capacity), and re-queue of a conversation whose owner has not
answered the customer within N minutes. Race-safe: conditional updates under the writers' lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from tests.server.live import Team, second_replica, wait_for
from tray_agent.channels import InboundMessage
from tray_agent.core.models import Conversation, Message
from tray_agent.server import sweeps


@pytest.fixture
def policy(team: Team) -> Iterator[Any]:
    """Sets the Support queue's policy for one test; everything open is closed before and
    after, and the queue goes back to Linkus's behaviour (off)."""
    _close_everything(team)
    _present(team, "Alice", "Bea")

    def set_(**kw: Any) -> Any:
        return team.inbox.set_queue_policy(team.queue.id, **kw)

    try:
        yield set_
    finally:
        team.inbox.set_queue_policy(team.queue.id, auto_assign=False, capacity=None, requeue_after_minutes=None)
        for who in ("Alice", "Bea"):
            team.inbox.set_status(team.agents[who].id, "available")
        _close_everything(team)


def _close_everything(team: Team) -> None:
    with team.app.db.read() as s:
        ids = list(s.execute(select(col(Conversation.id)).where(col(Conversation.status) == "open")).scalars())
    for cid in ids:
        team.inbox.close(team.agents["Ada"].id, cid)


def _present(team: Team, *who: str) -> None:
    """Each one's device is seen now (their request is the heartbeat)."""
    team.clock.advance(timedelta(seconds=16))
    for name in who:
        with team.http(name) as c:
            assert c.get("/sync/v1/me").status_code == 200


def owner(team: Team, conv: int) -> int | None:
    return team.inbox.get_conversation(team.agents["Ada"].id, conv).assigned_agent_id  # type: ignore[no-any-return]


def kinds(team: Team, conv: int) -> list[tuple[str, str]]:
    with team.http("Ada") as c:
        items = c.get(f"/sync/v1/conversations/{conv}/messages").json()["items"]
    return [(m["kind"], m["text"]) for m in items]


def cursor_of(team: Team, who: str) -> str:
    with team.http(who) as c:
        return str(c.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"])


def events(team: Team, who: str, since: str) -> list[dict[str, Any]]:
    with team.http(who) as c:
        return c.get("/sync/v1/events", params={"since": since, "wait": 0}).json()["events"]  # type: ignore[no-any-return]


def test_without_a_policy_a_queue_keeps_its_conversations_for_pickup(team: Team, policy: Any):
    conv = team.customer_says("anyone?")
    assert owner(team, conv) is None


def test_a_new_conversation_goes_to_the_available_member_with_the_fewest_open(team: Team, policy: Any):
    busy_with = team.customer_says("first")
    team.inbox.claim(team.agents["Alice"].id, busy_with)  # Alice has one open, Bea none
    policy(auto_assign=True)
    since = cursor_of(team, "Bea")
    conv = team.customer_says("who takes me?")
    assert owner(team, conv) == team.agents["Bea"].id
    assert ("assigned", "Assigned to Bea automatically") in kinds(team, conv)
    # Bea's desktop is told it is hers; Alice's sees it leave her queue view.
    assert any(e["type"] == "conversation.updated" and e["data"]["change"] == "assigned" and e["conversation_id"] == conv
               for e in events(team, "Bea", since))
    removed = [e for e in events(team, "Alice", since) if e["type"] == "conversation.removed"]
    assert [(e["conversation_id"], e["data"]["reason"]) for e in removed] == [(conv, "assigned")]
    with team.http("Bea") as c:
        assert c.get("/sync/v1/me").json()["open_count"] == 1


def test_the_webhooks_group_commit_assigns_new_conversations_only_where_the_queue_says(team: Team, policy: Any):
    """The group commit's batch (how webhooks are stored) learns from its own statement which
    new conversations wait for automatic assignment, and runs the pass for those."""
    def batch(*texts: str) -> list[int]:
        n = time.monotonic_ns()
        msgs = [InboundMessage(f"gc-{n}-{i}", f"+1646555{(n // 1000 + i) % 10000:04d}", t) for i, t in enumerate(texts)]
        assert team.inbox.receive_batches({team.sms.id: msgs}) == len(msgs)
        with team.app.db.read() as s:
            return [s.execute(select(col(Message.conversation_id)).where(
                col(Message.provider_message_id) == m.provider_message_id)).scalar_one() for m in msgs]

    assert [owner(team, c) for c in batch("no policy yet")] == [None]
    policy(auto_assign=True)
    got = {owner(team, c) for c in batch("one", "two")}
    assert got == {team.agents["Alice"].id, team.agents["Bea"].id}  # the fewest open each time


def test_busy_or_away_members_get_nothing_and_capacity_caps_each_member(team: Team, policy: Any):
    policy(auto_assign=True, capacity=1)
    with team.http("Bea") as bea:
        assert bea.put("/sync/v1/me/status", json={"status": "busy"}).status_code == 200
    first, second = team.customer_says("one"), team.customer_says("two")
    assert owner(team, first) == team.agents["Alice"].id
    assert owner(team, second) is None  # Alice is full, Bea is busy: it waits in the queue
    with team.http("Bea") as bea:  # do-not-disturb ends: Bea takes the waiting one at once
        assert bea.put("/sync/v1/me/status", json={"status": "available"}).status_code == 200
    assert owner(team, second) == team.agents["Bea"].id


def test_a_member_who_frees_capacity_gets_the_waiting_conversation(team: Team, policy: Any):
    policy(auto_assign=True, capacity=1)
    a, b = team.customer_says("a"), team.customer_says("b")
    waiting = team.customer_says("c")
    assert {owner(team, a), owner(team, b)} == {team.agents["Alice"].id, team.agents["Bea"].id}
    assert owner(team, waiting) is None
    alice_had = a if owner(team, a) == team.agents["Alice"].id else b
    with team.http("Alice") as alice:
        r = alice.post(f"/sync/v1/conversations/{alice_had}/close", headers={"Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 200
    assert owner(team, waiting) == team.agents["Alice"].id


def test_a_member_coming_online_gets_what_waited_while_everyone_was_offline(team: Team, policy: Any):
    policy(auto_assign=True)
    team.clock.advance(timedelta(seconds=61))  # no device seen for a minute: everyone is offline
    conv = team.customer_says("is anybody there?")
    assert owner(team, conv) is None
    _present(team, "Bea")
    assert owner(team, conv) == team.agents["Bea"].id


def test_simultaneous_conversations_never_push_a_member_past_capacity(team: Team, policy: Any):
    policy(auto_assign=True, capacity=2)
    convs: list[int] = []
    lock = threading.Lock()

    def arrive(i: int) -> None:
        cid = team.customer_says(f"rush {i}")
        with lock:
            convs.append(cid)

    threads = [threading.Thread(target=arrive, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sweeps.sweep(team.app)  # the sweep racing nothing left over gives nothing more
    owners = [owner(team, c) for c in convs]
    assert owners.count(team.agents["Alice"].id) == 2 and owners.count(team.agents["Bea"].id) == 2
    assert owners.count(None) == 8


def test_an_unanswered_customer_sends_the_conversation_back_to_the_queue(team: Team, policy: Any):
    policy(requeue_after_minutes=15)
    conv = team.customer_says("hello?")
    team.inbox.transfer(team.agents["Ada"].id, conv, to_agent_id=team.agents["Carl"].id)
    answered = team.customer_says("me too")
    team.inbox.claim(team.agents["Bea"].id, answered)
    team.inbox.reply(team.agents["Bea"].id, answered, "Right with you")
    since_carl, since_alice = cursor_of(team, "Carl"), cursor_of(team, "Alice")
    team.clock.advance(timedelta(minutes=14))
    assert sweeps.sweep(team.app)["requeued"] == 0
    team.clock.advance(timedelta(minutes=2))
    # The replica's own sweep does it (under its lease), no request needed.
    wait_for(lambda: owner(team, conv) is None, timeout=30, what="the re-queue")
    assert owner(team, answered) == team.agents["Bea"].id  # answered: it stays
    text = [t for k, t in kinds(team, conv) if k == "requeued"]
    assert text == ["Returned to the queue Support: Carl had not answered for 15 minutes"]
    # Out of Carl's view, into the members'.
    assert [(e["type"], e["data"].get("reason")) for e in events(team, "Carl", since_carl)
            if e["conversation_id"] == conv][-1] == ("conversation.removed", "conversation.transferred")
    arrived = [e for e in events(team, "Alice", since_alice) if e["type"] == "conversation.transferred"]
    assert [(e["conversation_id"], e["data"]["to_queue_id"], e["data"]["reason"]) for e in arrived] == [
        (conv, team.queue.id, "requeued")]
    with team.http("Alice") as c:
        assert c.get(f"/sync/v1/conversations/{conv}").status_code == 200


def test_a_requeued_conversation_goes_to_another_available_member(team: Team, policy: Any):
    policy(auto_assign=True, requeue_after_minutes=5)
    conv = team.customer_says("please answer")
    first = owner(team, conv)
    assert first is not None
    team.clock.advance(timedelta(minutes=6))
    _present(team, "Alice", "Bea")
    sweeps.sweep(team.app)
    assert owner(team, conv) not in (None, first)


def test_an_owner_who_answers_in_time_keeps_the_conversation(team: Team, policy: Any):
    policy(requeue_after_minutes=5)
    conv = team.customer_says("quick one")
    team.inbox.claim(team.agents["Alice"].id, conv)
    team.clock.advance(timedelta(minutes=4))
    team.inbox.reply(team.agents["Alice"].id, conv, "Here")
    team.clock.advance(timedelta(minutes=10))
    assert sweeps.sweep(team.app)["requeued"] == 0 and owner(team, conv) == team.agents["Alice"].id
    # The customer writes again: the clock starts again from that message.
    team.customer_says("and another thing", address=team.address_of(conv))
    team.clock.advance(timedelta(minutes=6))
    assert sweeps.sweep(team.app)["requeued"] == 1 and owner(team, conv) is None


def test_a_shared_inbox_cannot_auto_assign(team: Team, policy: Any):
    team.inbox.set_pickup_mode(team.queue.id, "none")
    try:
        with pytest.raises(Exception, match="shared inbox"):
            policy(auto_assign=True)
    finally:
        team.inbox.set_pickup_mode(team.queue.id, "auto")


def test_the_console_sets_a_queues_policy_lists_it_and_audits_it(team: Team, module_db: str, tmp_path: Path):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TRAY_AGENT_HOME": str(tmp_path / "console")}
        env.pop("TRAY_AGENT_SERVER_DATABASE", None)
        return subprocess.run([sys.executable, "-m", "tray_agent", "server", "--database", module_db, "queue", *args],
                              capture_output=True, text=True, env=env, timeout=120)

    try:
        done = run("set", str(team.queue.id), "--auto-assign", "--capacity", "3", "--requeue-after", "10")
        assert done.returncode == 0, done.stderr
        assert "auto-assign (capacity 3), re-queue after 10 min" in done.stdout
        listed = run("list")
        assert f"{team.queue.id}\tSupport\tpickup auto, auto-assign (capacity 3), re-queue after 10 min" in listed.stdout
        off = run("set", str(team.queue.id), "--requeue-after", "off")
        assert off.returncode == 0 and "no re-queue" in off.stdout and "capacity 3" in off.stdout
        bad = run("set", str(team.queue.id), "--capacity", "lots")
        assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "capacity" in bad.stderr
        q = [q for q in team.inbox.list_queues() if q.id == team.queue.id][0]
        assert (q.auto_assign, q.capacity, q.requeue_after_minutes) == (True, 3, None)
        audited = [(e.action, e.detail) for e in team.accounts.audit_log(10) if e.target == f"queue:{team.queue.id}"]
        assert ("queue.policy", {"requeue_after_minutes": None}) in audited
        assert ("queue.policy", {"auto_assign": True, "capacity": 3, "requeue_after_minutes": 10}) in audited
    finally:
        team.inbox.set_queue_policy(team.queue.id, auto_assign=False, capacity=None, requeue_after_minutes=None)


def test_conversations_arriving_on_two_replicas_at_once_respect_each_members_capacity(
        team: Team, policy: Any, module_db: str, tmp_path: Path):
    policy(auto_assign=True, capacity=3)
    with second_replica(team, module_db, tmp_path / "replica-b") as b:
        convs: list[int] = []
        lock = threading.Lock()

        def arrive(inbox: Any, i: int) -> None:
            mid = inbox.receive(team.sms.id, InboundMessage(f"two-{i}-{uuid.uuid4().hex}", f"+1415557{i:04d}", "hi"))
            with team.app.db.read() as s:
                cid = s.get_one(Message, mid).conversation_id
            with lock:
                convs.append(cid)

        # Each replica opens half of them (as their webhooks would), all at once.
        threads = [threading.Thread(target=arrive, args=(app.inbox, i))
                   for i, app in enumerate([team.app, b.server.app] * 8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        owners = [owner(team, c) for c in convs]
    assert len(convs) == 16
    assert owners.count(team.agents["Alice"].id) == 3 and owners.count(team.agents["Bea"].id) == 3
    assert owners.count(None) == 10
