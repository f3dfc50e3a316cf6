"""Visibility on every sync endpoint, as a matrix: each endpoint × who asks. An agent sees
the conversations assigned to them and the unassigned ones of their queues, an admin sees
all; anything else is 404 (never 403), and a missing or revoked token is 401."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from sqlalchemy import select
from sqlmodel import col

from tests.server.live import CONSOLE_ACTOR, Team, wait_for
from tray_agent.channels import InboundFile, InboundMessage
from tray_agent.core.errors import ProviderError
from tray_agent.core.models import Attachment, Message

READS = ("snapshot", "events", "fetch", "conversation", "messages", "file", "upload")
ACTIONS = ("reply", "claim", "transfer", "close", "reopen", "archive", "unarchive", "read", "unread", "retry", "call")
LISTS = ("snapshot", "events", "fetch")  # leave out what may not be seen, never an error
OK = {"reply": 201, "upload": 201, "call": 201}

# Who asks, about which conversation: "owned" is Alice's (taken from the queue), "queued"
# waits unassigned in the queue of Alice and Bea; Carl is in no queue; Ada is an admin.
ROLES = {
    "owner": ("Alice", "owned"),
    "queue member": ("Bea", "queued"),
    "queue member, taken by a colleague": ("Bea", "owned"),
    "other agent": ("Carl", "owned"),
    "other agent, queued": ("Carl", "queued"),
    "admin": ("Ada", "owned"),
    "revoked device": ("revoked", "owned"),
    "no token": (None, "owned"),
}


def expected(endpoint: str, role: str) -> Any:
    """The status (or, for snapshot and events, whether the conversation shows)."""
    if role in ("revoked device", "no token"):
        return 401
    sees = role in ("owner", "queue member", "admin")
    if endpoint in READS:
        return ("shown" if sees else "hidden") if endpoint in LISTS else (
            OK.get(endpoint, 200) if sees else 404)
    if role == "admin" and endpoint == "claim":
        return 409  # sees it, but Alice has it: already taken, by whom and when
    if role == "admin" and endpoint == "reply":
        return 403  # sees it, but Alice answers it: not_owner, until Ada transfers it to herself
    if role == "queue member, taken by a colleague":
        return 409 if endpoint in ("reply", "claim") else 404
    return OK.get(endpoint, 200) if sees else 404


@pytest.fixture(scope="module")
def revoked(team: Team) -> str:
    """A second device of Alice's, revoked by the administrator."""
    code = team.accounts.issue_code(CONSOLE_ACTOR, team.agents["Alice"].id)
    token = team.sign_in("Alice", code, device="Old phone")
    device = [d for d in team.accounts.list_devices(team.agents["Alice"].id) if d.name == "Old phone"][0]
    team.accounts.revoke_device(CONSOLE_ACTOR, device.id)
    return token


def _client(team: Team, who: str | None, revoked: str) -> httpx.Client:
    if who == "revoked":
        return httpx.Client(base_url=team.url, headers={"Authorization": f"Bearer {revoked}"}, timeout=30)
    return team.http(who)


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("endpoint", READS + ACTIONS)
def test_every_endpoint_answers_only_those_who_may_see_the_conversation(team: Team, revoked: str,
                                                                        endpoint: str, role: str):
    who, which = ROLES[role]
    conv = team.customer_says("hello")
    address = team.address_of(conv)
    failed = _failed_reply(team, conv, queued=which == "queued") if endpoint == "retry" else None
    if which == "owned" and failed is None:
        team.inbox.claim(team.agents["Alice"].id, conv)
    if endpoint == "reopen":
        team.inbox.close(team.agents["Alice" if which == "owned" else "Bea"].id, conv)
    with _client(team, who, revoked) as c:
        got = _call(team, c, endpoint, conv, address, failed)
    assert got == expected(endpoint, role)


def _failed_reply(team: Team, conv: int, *, queued: bool) -> int:
    """Alice's reply that the provider failed (for ``retry``); ``queued``: she then hands
    the conversation back to its queue."""
    alice = team.agents["Alice"].id
    team.fake.adapters[team.sms.id].failures.append(ProviderError("The carrier is down.", retryable=False))
    mid = team.inbox.reply(alice, conv, "one moment").id
    wait_for(lambda: _status(team, mid) == "failed", what="the provider's failure")
    if queued:
        team.inbox.transfer(alice, conv, to_queue_id=team.queue.id)
    return mid


def _status(team: Team, mid: int) -> str:
    with team.app.db.read() as s:
        return str(s.get_one(Message, mid).status)


def _call(team: Team, c: httpx.Client, endpoint: str, conv: int, address: str, failed: int | None = None) -> Any:
    if endpoint == "snapshot":
        r = c.get("/sync/v1/snapshot", params={"limit": 1000})
        if r.status_code != 200:
            return r.status_code
        return "shown" if conv in [x["id"] for x in r.json()["conversations"]] else "hidden"
    if endpoint == "events":
        with team.http("Ada") as admin:
            cursor = admin.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"]
        team.customer_says("are you there?", address=address)
        r = c.get("/sync/v1/events", params={"since": cursor, "wait": 0})
        if r.status_code != 200:
            return r.status_code
        return "shown" if any(e["conversation_id"] == conv for e in r.json()["events"]) else "hidden"
    if endpoint == "fetch":
        with team.app.db.read() as s:
            mid = s.execute(select(col(Message.id)).where(col(Message.conversation_id) == conv)).scalars().first()
        r = c.post("/sync/v1/fetch", json={"conversation_ids": [conv], "message_ids": [mid], "history_ids": [conv]})
        if r.status_code != 200:
            return r.status_code
        got = r.json()
        found = (tuple(x["id"] for x in got["conversations"]), tuple(x["id"] for x in got["messages"]),
                 tuple(x["conversation_id"] for x in got["histories"]))
        return {((conv,), (mid,), (conv,)): "shown", ((), (), ()): "hidden"}.get(found, found)
    if endpoint == "conversation":
        r = c.get(f"/sync/v1/conversations/{conv}")
    elif endpoint == "file":
        mid = team.inbox.receive(team.sms.id, InboundMessage(uuid.uuid4().hex, address, "", files=(
            InboundFile("id.png", "image/png", b"\x89PNG data"),)))
        with team.app.db.read() as s:
            att = s.execute(select(col(Attachment.id)).where(col(Attachment.message_id) == mid)).scalar_one()
        r = c.get(f"/sync/v1/conversations/{conv}/files/{att}")
    elif endpoint == "upload":  # a file for a reply in this conversation
        r = c.post("/sync/v1/uploads", params={"conversation_id": conv}, files={"file": ("a.txt", b"a", "text/plain")})
    elif endpoint == "messages":
        r = c.get(f"/sync/v1/conversations/{conv}/messages")
    elif endpoint == "retry":
        r = c.post(f"/sync/v1/messages/{failed}/retry", headers={"Idempotency-Key": uuid.uuid4().hex})
    else:
        body: dict[str, Any] = {}
        if endpoint == "reply":
            body = {"text": "On it"}
        elif endpoint == "transfer":
            body = {"to_agent_id": team.agents["Carl"].id, "note": "for you"}
        elif endpoint == "call":  # a call the desktop placed, to be recorded
            body = {"handler": "tel", "started": True, "detail": "opened the phone app"}
        r = c.post(f"/sync/v1/conversations/{conv}/{endpoint}", json=body,
                   headers={"Idempotency-Key": uuid.uuid4().hex})
    if r.status_code == 404:
        # Never a hint that it exists: the same answer as for a conversation that does not.
        assert r.json()["error"] == "not_found" and str(failed or conv) in r.json()["message"]
    if r.status_code == 409:
        assert r.json()["error"] == "already_taken" and r.json()["owner_name"] == "Alice"
        assert r.json()["taken_at"] is not None
    if r.status_code == 403:
        assert r.json()["error"] == "not_owner" and r.json()["owner_id"] == team.agents["Alice"].id
        assert r.json()["message"].startswith("Alice is handling this conversation")
    return r.status_code


@pytest.mark.parametrize("who", ["Alice", "Carl", "Ada", "revoked", None])
def test_presence_endpoints_answer_every_signed_in_agent_and_nobody_else(team: Team, revoked: str, who: str | None):
    with _client(team, who, revoked) as c:
        picker = c.get("/sync/v1/agents")
        status = c.put("/sync/v1/me/status", json={"status": "available"})
    expected = 401 if who in ("revoked", None) else 200
    assert (picker.status_code, status.status_code) == (expected, expected)
    if expected == 200:
        assert status.json()["name"] == who


# Starting a conversation (POST /sync/v1/conversations) with the customer of "owned" or
# "queued", on the SMS channel routed to the queue of Alice and Bea. A refusal is about the
# channel or the colleague holding the customer (403 forbidden, docs/sync.md), and for an
# agent the channel does not reach it is the same whatever the customer: it confirms nothing.
START = {
    "owner": 201,  # her own conversation: the message goes there
    "queue member": 201,  # unassigned in her queue: she takes it over
    "queue member, taken by a colleague": 403,  # Alice already has an open conversation with them
    "other agent": 403, "other agent, queued": 403,  # the channel goes to a queue Carl is not in
    "admin": 403,  # admins may start anywhere, but Alice is talking to this customer
    "revoked device": 401, "no token": 401,
}


def _start(c: httpx.Client, team: Team, address: str) -> httpx.Response:
    return c.post("/sync/v1/conversations", json={"channel_id": team.sms.id, "customer_address": address,
                                                  "text": "Hello from us"}, headers={"Idempotency-Key": uuid.uuid4().hex})


@pytest.mark.parametrize("role", list(ROLES))
def test_starting_a_conversation_answers_only_those_the_channel_reaches(team: Team, revoked: str, role: str):
    who, which = ROLES[role]
    conv = team.customer_says("hello")
    if which == "owned":
        team.inbox.claim(team.agents["Alice"].id, conv)
    with _client(team, who, revoked) as c:
        r = _start(c, team, team.address_of(conv))
        assert r.status_code == START[role], r.text
        if r.status_code == 201:
            assert r.json()["conversation"]["id"] == conv
            assert r.json()["conversation"]["assigned_agent_id"] == team.agents[who].id  # type: ignore[index]
        elif r.status_code == 403:
            assert r.json()["error"] == "forbidden" and "\n" not in r.json()["message"]
        else:
            assert r.json()["error"] == "unauthorized"
        if who == "Carl":  # the same answer for a customer nobody talks to
            fresh = _start(c, team, "+14155559876")
            assert (fresh.status_code, fresh.json()) == (r.status_code, r.json())
    with team.app.db.read() as s:
        outbound = s.execute(select(col(Message.text)).where(col(Message.conversation_id) == conv,
                                                             col(Message.direction) == "out")).scalars().all()
    assert outbound == (["Hello from us"] if START[role] == 201 else [])
