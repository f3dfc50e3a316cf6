"""A call placed from a desktop is recorded by the team server (``POST /sync/v1/conversations/
{id}/call``): a "call" row in the history that the owner and the queue's members see, once
per key, a failed attempt with its reason, and 404 for whoever does not see the conversation."""

from __future__ import annotations

import uuid

from tests.server.live import Team

ATTEMPT = {"handler": "tel", "handler_label": "Phone app", "started": True, "detail": "opened tel:+14155550123"}


def history(team: Team, who: str, cid: int) -> list[dict]:  # type: ignore[type-arg]
    with team.http(who) as c:
        r = c.get(f"/sync/v1/conversations/{cid}/messages")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_a_call_from_a_desktop_is_a_row_every_viewer_sees_once_per_key(team: Team):
    cid = team.customer_says("please call me")
    number = team.address_of(cid)
    key = uuid.uuid4().hex
    with team.http("Alice") as c:
        first = c.post(f"/sync/v1/conversations/{cid}/call", json=ATTEMPT, headers={"Idempotency-Key": key})
        again = c.post(f"/sync/v1/conversations/{cid}/call", json=ATTEMPT, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    row = first.json()
    assert (row["kind"], row["direction"], row["text"]) == ("call", "system", f"Call to {number}: opened tel:+14155550123")
    assert row["meta"]["handler"] == "tel" and row["meta"]["started"] is True
    assert again.status_code == 201 and again.json()["id"] == row["id"]  # the repeat acted once
    for who in ("Alice", "Bea"):  # the caller and a colleague of the queue
        calls = [m for m in history(team, who, cid) if m["kind"] == "call"]
        assert [m["id"] for m in calls] == [row["id"]], who


def test_a_failed_attempt_is_recorded_with_its_reason(team: Team):
    cid = team.customer_says("call?")
    failed = {**ATTEMPT, "started": False, "detail": "no handler for tel"}
    with team.http("Bea") as c:
        r = c.post(f"/sync/v1/conversations/{cid}/call", json=failed, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    assert r.json()["text"].endswith("failed: no handler for tel") and r.json()["meta"]["reason"] == "no handler for tel"
    assert [m["meta"]["started"] for m in history(team, "Alice", cid) if m["kind"] == "call"] == [False]


def test_a_call_is_refused_to_whoever_does_not_see_the_conversation_and_to_a_bad_body(team: Team):
    cid = team.customer_says("hi")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    with team.http("Carl") as c:  # outside the queue: it does not exist for him
        r = c.post(f"/sync/v1/conversations/{cid}/call", json=ATTEMPT, headers=key)
        assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
    with team.http() as anonymous:
        assert anonymous.post(f"/sync/v1/conversations/{cid}/call", json=ATTEMPT, headers=key).status_code == 401
    with team.http("Alice") as c:
        r = c.post(f"/sync/v1/conversations/{cid}/call", json={"handler": "tel"}, headers=key)
        assert r.status_code == 422 and r.json()["error"] == "invalid_input" and "\n" not in r.json()["message"]
    assert not [m for m in history(team, "Alice", cid) if m["kind"] == "call"]
