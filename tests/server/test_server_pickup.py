"""Message queues' pickup modes, as Linkus has them: auto (the first member to reply takes
it), manual (replying does not take it; Pick Up does), none (a shared inbox)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.server.live import Team


@pytest.fixture
def mode(team: Team, request: pytest.FixtureRequest) -> Iterator[str]:
    team.inbox.set_pickup_mode(team.queue.id, request.param)
    try:
        yield request.param
    finally:
        team.inbox.set_pickup_mode(team.queue.id, "auto")


def post(c: httpx.Client, conv: int, action: str, **body: object) -> httpx.Response:
    return c.post(f"/sync/v1/conversations/{conv}/{action}", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})


def owner(team: Team, conv: int) -> int | None:
    return team.inbox.get_conversation(team.agents["Ada"].id, conv).assigned_agent_id  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["auto"], indirect=True)
def test_auto_pickup_the_first_member_to_reply_takes_it(team: Team, mode: str):
    conv = team.customer_says("anyone?")
    with team.http("Bea") as bea, team.http("Alice") as alice:
        assert post(bea, conv, "reply", text="Me").status_code == 201
        assert owner(team, conv) == team.agents["Bea"].id
        late = post(alice, conv, "reply", text="Me too")
        assert late.status_code == 409 and late.json()["error"] == "already_taken"


@pytest.mark.parametrize("mode", ["manual"], indirect=True)
def test_manual_pickup_members_reply_until_one_picks_it_up(team: Team, mode: str):
    conv = team.customer_says("a question")
    with team.http("Bea") as bea, team.http("Alice") as alice:
        assert post(bea, conv, "reply", text="Looking").status_code == 201
        assert owner(team, conv) is None
        assert alice.get(f"/sync/v1/conversations/{conv}").status_code == 200
        assert post(alice, conv, "reply", text="Me as well").status_code == 201
        assert post(alice, conv, "claim").status_code == 200
        assert owner(team, conv) == team.agents["Alice"].id
        refused = post(bea, conv, "reply", text="still here?")
        assert refused.status_code == 409 and refused.json()["owner_name"] == "Alice"
        history = [m["kind"] for m in alice.get(f"/sync/v1/conversations/{conv}/messages").json()["items"]]
        assert history[-1] == "picked_up"


@pytest.mark.parametrize("mode", ["none"], indirect=True)
def test_no_pickup_is_a_shared_inbox_where_nobody_takes_it(team: Team, mode: str):
    conv = team.customer_says("shared")
    with team.http("Bea") as bea, team.http("Alice") as alice:
        assert post(bea, conv, "reply", text="Hi").status_code == 201
        assert post(alice, conv, "reply", text="Hello too").status_code == 201
        assert owner(team, conv) is None
        r = post(alice, conv, "claim")
        assert r.status_code == 409 and r.json()["error"] == "pickup_disabled"
    assert [q.pickup_mode for q in team.inbox.list_queues()] == ["none"]


def test_an_unknown_pickup_mode_is_refused(team: Team):
    from tray_agent.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="auto, manual, none"):
        team.inbox.set_pickup_mode(team.queue.id, "round-robin")
