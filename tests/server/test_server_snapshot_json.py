"""The snapshot's JSON, which PostgreSQL builds, is the views' JSON: over HTTP each page is
what the service layer's view builders (``Inbox.snapshot``, the documented shapes) write, key
for key and value for value, times to the character, for every kind of row a desktop gets."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from tray_agent.channels import InboundFile, InboundMessage
from tray_agent.core.models import OUT, Message

from tests.server.live import Team, wait_for


def pairs(text: str) -> Any:
    """Parsed JSON that keeps each object's key order (a dict's equality ignores it)."""
    return json.loads(text, object_pairs_hook=lambda kv: [(k, v) for k, v in kv])


def pages(team: Team, who: str, **params: Any) -> list[str]:
    out, after = [], 0
    with team.http(who) as c:
        while True:
            r = c.get("/sync/v1/snapshot", params={**params, "after": after})
            assert r.status_code == 200, r.text
            out.append(r.text)
            if r.json()["next_after"] is None:
                return out
            after = r.json()["next_after"]


def views_pages(team: Team, who: str, **params: Any) -> list[str]:
    out, after = [], 0
    while True:
        snap = team.inbox.snapshot(team.agents[who].id, after=after, **params)
        out.append(snap.to_json())
        if snap.next_after is None:
            return out
        after = snap.next_after


def rich_inbox(team: Team) -> dict[str, int]:
    """Conversations with what a desktop must be shown right: names that need escaping, files,
    a contact, a reply's sender, read and unread marks, a failed send, a closed one, meta."""
    alice, bea = team.agents["Alice"].id, team.agents["Bea"].id
    inbox, sms = team.inbox, team.sms.id
    convs = {}
    team.clock.advance(timedelta(microseconds=120_000))  # a time with a fraction
    mid = inbox.receive(sms, InboundMessage("rich-1", "+14155559001", 'He said "hi"\n\\ \u00e9\u4e2d \x01\ttab',
                                            customer_name="Zo\u00eb \"Q\" <b>", meta={"k": [1, {"x": None}], "\u00e9": 2},
                                            files=(InboundFile("r\u00e9sum\u00e9 \"1\".pdf", "application/pdf", b"%PDF-1"),
                                                   InboundFile("b.png", "image/png", b"\x89PNG"))))
    with team.app.db.read() as s:
        convs["files"] = s.get(Message, mid).conversation_id  # type: ignore[union-attr]
    team.clock.advance(timedelta(seconds=1, microseconds=-120_000))  # a whole second again
    convs["replied"] = team.customer_says("reply to me")
    sent = inbox.reply(bea, convs["replied"], "Sure \u2014 on it")
    convs["contact"] = team.customer_says("save me")
    inbox.save_contact(alice, convs["contact"], name="Ma\u00eblle \"M\"")
    convs["read"] = team.customer_says("read me")
    inbox.mark_read(alice, convs["read"])
    team.customer_says("after the mark", address=team.address_of(convs["read"]))
    convs["unread"] = team.customer_says("mark me unread")
    inbox.mark_read(alice, convs["unread"])
    inbox.mark_unread(alice, convs["unread"])
    convs["failed"] = team.customer_says("fail my reply")
    failed = [inbox.reply(alice, convs["failed"], "this one fails").id]
    convs["closed"] = team.customer_says("close me")
    failed.append(inbox.reply(alice, convs["closed"], "bye").id)
    inbox.close(alice, convs["closed"])
    wait_for(lambda: settled(team), what="the replies sent")
    with team.app.db.write() as s:  # as a provider's status callback leaves them
        s.execute(update(Message).where(col(Message.id).in_(failed)).values(
            status="failed", status_reason="Carrier said \"no\"", error_code="30007"))
    for i in range(25):
        team.customer_says(f"long {i}", address="+14155559002")
    convs["long"] = team.customer_says("long end", address="+14155559002")
    assert sent.sender_agent_id == bea
    return convs


def settled(team: Team) -> bool:
    """No reply is still on its way to the provider (the outbox would change it mid-test)."""
    with team.app.db.read() as s:
        return not s.execute(select(col(Message.id)).where(
            col(Message.direction) == OUT, col(Message.status).in_(("queued", "sending", "pending")))).first()


def test_every_snapshot_page_over_http_is_what_the_view_builders_write(team: Team):
    convs = rich_inbox(team)
    for who in ("Alice", "Bea", "Carl", "Ada"):  # queue members, one outside the queue, the admin
        for params in ({"limit": 3, "messages": 20}, {"limit": 1000, "messages": 0}, {"limit": 2, "messages": 5}):
            got, want = pages(team, who, **params), views_pages(team, who, **params)
            assert len(got) == len(want)
            for page, expected in zip(got, want, strict=True):
                body = pairs(page)
                assert [k for k, _ in body[:2]] == ["cursor", "epoch"]
                assert body[2:] == pairs(expected), (who, params)
    # The cases are there: escaping, files, unread marks, a failed send, more messages.
    seen = {c["id"]: c for page in pages(team, "Alice", limit=1000, messages=20)
            for c in json.loads(page)["conversations"]}
    rich = seen[convs["files"]]
    assert rich["customer_name"] == 'Zo\u00eb "Q" <b>' and len(rich["messages"][0]["attachments"]) == 2
    assert rich["messages"][0]["created_at"].endswith(".120000Z") and rich["messages"][0]["meta"]["\u00e9"] == 2
    assert seen[convs["read"]]["unread_count"] == 1 and seen[convs["unread"]]["unread"] is True
    assert [m["can_retry"] for m in seen[convs["failed"]]["messages"]] == [False, True]
    assert [m["can_retry"] for m in seen[convs["closed"]]["messages"]][1:] == [False, False]  # closed: no retry
    assert seen[convs["closed"]]["status"] == "closed" and seen[convs["contact"]]["contact_name"] == 'Ma\u00eblle "M"'
    assert seen[convs["long"]]["more_messages"] is True and len(seen[convs["long"]]["messages"]) == 20
