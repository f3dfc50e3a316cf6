"""The timeline's system rows over the sync API, as the owner and a queue member read them
(``/sync/v1/conversations/{id}/messages``): closed by an agent, reopened, closed by the
server's own auto-closure job (the leased job of the running server, not a direct call), and
a transfer back to a queue — which leaves the sender's list unless they are a member."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.server.live import Team, wait_for
from tray_agent.run import runtime

AUTO_CLOSE = timedelta(hours=1)


@pytest.fixture(scope="module", autouse=True)
def quick_sweeps() -> Iterator[None]:
    """The server's auto-closure job runs every ``SWEEP_EVERY`` (60 s): every second here,
    so a test waits a second for it, not a minute. Set before the module's server starts."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runtime, "SWEEP_EVERY", 1.0)
        yield


@pytest.fixture(scope="module", autouse=True)
def auto_closing(quick_sweeps: None, team: Team) -> None:
    team.inbox.update_channel(team.sms.id, auto_close_seconds=int(AUTO_CLOSE.total_seconds()))


def act(team: Team, who: str, conv: int, action: str, **body: Any) -> dict[str, Any]:
    with team.http(who) as c:
        r = c.post(f"/sync/v1/conversations/{conv}/{action}", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 200, r.text
    return dict(r.json())


def system_rows(team: Team, who: str, conv: int) -> list[tuple[str, str, int | None]] | int:
    """(kind, text, sender) of the conversation's system rows as ``who`` reads them, or the status."""
    with team.http(who) as c:
        r = c.get(f"/sync/v1/conversations/{conv}/messages")
    if r.status_code != 200:
        return r.status_code
    return [(m["kind"], m["text"], m["sender_agent_id"]) for m in r.json()["items"]
            if m["conversation_id"] == conv and m["direction"] == "system"]


def listed(team: Team, who: str, conv: int) -> bool:
    with team.http(who) as c:
        r = c.get("/sync/v1/snapshot", params={"limit": 1000, "messages": 0})
    assert r.status_code == 200, r.text
    return conv in [x["id"] for x in r.json()["conversations"]]


def test_a_transfer_to_a_queue_leaves_a_non_members_list_and_reaches_the_members(team: Team):
    conv = team.customer_says("I need a hand")
    ada, carl = team.agents["Ada"].id, team.agents["Carl"].id
    act(team, "Ada", conv, "transfer", to_agent_id=carl)  # an administrator hands it to Carl
    assert listed(team, "Carl", conv) and not listed(team, "Bea", conv)
    with team.http("Carl") as c:
        cursor = c.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"]
    back = act(team, "Carl", conv, "transfer", to_queue_id=team.queue.id, note="billing, not me")
    assert back["assigned_agent_id"] is None and back["queue_id"] == team.queue.id
    # Gone from Carl's list (he is in no queue), and 404 as for one that does not exist.
    assert not listed(team, "Carl", conv)
    assert system_rows(team, "Carl", conv) == 404
    with team.http("Carl") as c:
        events = c.get("/sync/v1/events", params={"since": cursor, "wait": 0}).json()["events"]
    assert [e["data"].get("reason") for e in events if e["type"] == "conversation.removed"
            and e["conversation_id"] == conv] == ["conversation.transferred"]
    # Back in the queue: every member sees it, with the whole timeline.
    expected = [("transfer", "Ada transferred this conversation to Carl", ada),
                ("transfer", "Carl transferred this conversation to Support: billing, not me", carl)]
    for member in ("Alice", "Bea"):
        assert listed(team, member, conv)
        assert system_rows(team, member, conv) == expected


def test_closed_reopened_auto_closed_and_requeued_rows_are_seen_by_the_owner_and_the_queue(team: Team):
    conv = team.customer_says("where is my parcel?")
    alice = team.agents["Alice"].id
    act(team, "Alice", conv, "claim")
    act(team, "Alice", conv, "close")
    act(team, "Alice", conv, "reopen")
    rows = [("picked_up", "Alice picked up this conversation", alice),
            ("closed", "Closed by Alice", alice),
            ("reopened", "Reopened by Alice", alice)]
    assert system_rows(team, "Alice", conv) == rows
    assert system_rows(team, "Bea", conv) == 404  # Alice's now, not the queue's
    # Idle past the channel's auto-closure: the running server's own job closes it.
    team.clock.advance(AUTO_CLOSE + timedelta(minutes=1))
    rows.append(("closed", "Closed automatically after 1 hour without activity", None))
    wait_for(lambda: system_rows(team, "Alice", conv) == rows, timeout=30,
             what=lambda: f"the auto-closure's row: {system_rows(team, 'Alice', conv)}")
    with team.http("Alice") as c:
        assert c.get(f"/sync/v1/conversations/{conv}").json()["status"] == "closed"
    # Reopened and handed back to the queue: Bea (a member) reads every row, and so does
    # Alice, who is a member too and keeps it in her list.
    act(team, "Alice", conv, "reopen")
    back = act(team, "Alice", conv, "transfer", to_queue_id=team.queue.id, note="Bea knows the courier")
    assert back["assigned_agent_id"] is None
    rows += [("reopened", "Reopened by Alice", alice),
             ("transfer", "Alice transferred this conversation to Support: Bea knows the courier", alice)]
    for member in ("Bea", "Alice"):
        assert listed(team, member, conv)
        assert system_rows(team, member, conv) == rows
    assert system_rows(team, "Carl", conv) == 404
