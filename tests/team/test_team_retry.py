"""Retry from a team desktop, as on a single desktop: a reply the server kept failing (its
own 5xx) or the provider failed is sent again from the window, once; a rule's refusal
(tests/team/test_team_upstream.py) has no Retry."""

from __future__ import annotations

from typing import Any

import pytest

from tray_agent.core.errors import ConversationClosed, ProviderError
from tray_agent.core.mirror import ECHO_BASE
from tray_agent.team import upstream
from tests.server.live import Team
from tests.team.desktop import Desktop, wait_for


def sent_to(team: Team, cid: int) -> list[str]:
    address = team.address_of(cid)
    return [m.text for m in team.fake.adapters[team.sms.id].sent if m.customer_address == address]


def outgoing(desktop: Desktop, cid: int) -> list[dict[str, Any]]:
    return [m for m in desktop.get(f"/api/conversations/{cid}/messages")["items"] if m["direction"] == "out"]


def test_a_reply_the_server_kept_failing_is_shown_failed_with_retry_and_sent_once_on_retry(
        team: Team, desktops, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    cid = team.customer_says("is anyone reading this?")
    alice = desktops("Alice")
    wait_for(lambda: cid in alice.inbox_ids(), what="the conversation in Alice's cache")
    real, broken, calls = team.app.inbox.reply, [True], []

    def reply(agent_id: int, conversation_id: int, text: str = "", files=()):  # type: ignore[no-untyped-def]
        calls.append(text)
        if broken[0] and text == "first":
            raise RuntimeError("the server's disk is full")
        return real(agent_id, conversation_id, text, files=files)

    monkeypatch.setattr(team.app.inbox, "reply", reply)
    with alice.http() as c:
        first = c.post(f"/api/conversations/{cid}/messages", json={"text": "first"}).json()
        assert c.post(f"/api/conversations/{cid}/messages", json={"text": "second"}).status_code == 201
    failed = wait_for(lambda: [m for m in outgoing(alice, cid) if m["status"] == "failed"], timeout=60,
                      what="the first reply given up on")
    assert failed[0]["id"] == first["id"] and failed[0]["can_retry"] and failed[0]["error_code"] == "server_error"
    assert "500" in failed[0]["status_reason"]
    assert calls.count("first") == upstream.GIVE_UP_AFTER
    # It held the second back only while it was being tried.
    wait_for(lambda: sent_to(team, cid) == ["second"], timeout=30, what="the second reply sent")
    broken[0] = False
    with alice.http() as c:
        r = c.post(f"/api/messages/{first['id']}/retry")
        assert r.status_code == 200 and r.json()["status"] == "queued", r.text
        again = c.post(f"/api/messages/{first['id']}/retry")  # a second click: no longer failed
        assert again.status_code == 422, again.text
    wait_for(lambda: sent_to(team, cid) == ["second", "first"], timeout=30, what="the retried reply sent")
    wait_for(lambda: all(m["id"] < ECHO_BASE for m in outgoing(alice, cid)), what="the echoes replaced")
    assert [m["text"] for m in outgoing(alice, cid)] == ["second", "first"]  # in the order the server took them
    assert sent_to(team, cid) == ["second", "first"] and alice.connection()["pending"] == 0


def test_a_reply_the_provider_failed_is_retried_through_the_server_once(team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    cid = team.customer_says("hello?")
    alice = desktops("Alice")
    wait_for(lambda: cid in alice.inbox_ids(), what="the conversation in Alice's cache")
    team.fake.adapters[team.sms.id].failures.append(ProviderError("The carrier is down.", retryable=False))
    with alice.http() as c:
        assert c.post(f"/api/conversations/{cid}/messages", json={"text": "we are here"}).status_code == 201
    failed = wait_for(lambda: [m for m in outgoing(alice, cid) if m["status"] == "failed" and m["id"] < ECHO_BASE],
                      timeout=40, what="the provider's failure on Alice's message")
    assert failed[0]["can_retry"] and "carrier" in failed[0]["status_reason"]
    assert sent_to(team, cid) == []
    with alice.http() as c:
        r = c.post(f"/api/messages/{failed[0]['id']}/retry")
        assert r.status_code == 200 and r.json()["status"] == "queued", r.text
    wait_for(lambda: sent_to(team, cid) == ["we are here"], timeout=30, what="the retried send")
    wait_for(lambda: outgoing(alice, cid)[0]["status"] == "sent", what="sent, on Alice's desktop")
    with alice.http() as c:
        again = c.post(f"/api/messages/{failed[0]['id']}/retry")
    assert again.status_code == 422 and sent_to(team, cid) == ["we are here"]



def test_a_retry_in_a_closed_conversation_is_refused_alike_on_the_server_and_for_each_kind_of_reply(
        team: Team, desktops, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    cid = team.customer_says("are you there?")
    alice = desktops("Alice")
    wait_for(lambda: cid in alice.inbox_ids(), what="the conversation in Alice's cache")
    real = team.app.inbox.reply

    def reply(agent_id: int, conversation_id: int, text: str = "", files=()):  # type: ignore[no-untyped-def]
        if text == "kept failing":
            raise RuntimeError("the server's disk is full")
        return real(agent_id, conversation_id, text, files=files)

    monkeypatch.setattr(team.app.inbox, "reply", reply)
    team.fake.adapters[team.sms.id].failures.append(ProviderError("The carrier is down.", retryable=False))
    with alice.http() as c:
        assert c.post(f"/api/conversations/{cid}/messages", json={"text": "the provider failed"}).status_code == 201
        assert c.post(f"/api/conversations/{cid}/messages", json={"text": "kept failing"}).status_code == 201
    failed = wait_for(lambda: (f := {m["text"]: m for m in outgoing(alice, cid) if m["status"] == "failed"})
                      and len(f) == 2 and f, timeout=60, what="both replies failed")
    assert failed["the provider failed"]["id"] < ECHO_BASE <= failed["kept failing"]["id"]
    with alice.http() as c:
        assert c.post(f"/api/conversations/{cid}/close").status_code == 200
        answers = [c.post(f"/api/messages/{failed[t]['id']}/retry") for t in ("the provider failed", "kept failing")]
    with pytest.raises(ConversationClosed) as on_the_server:  # the service layer's own answer
        team.inbox.retry(team.agents["Alice"].id, failed["the provider failed"]["id"])
    rule = {"error": on_the_server.value.code, "message": on_the_server.value.message}  # as the desktop API says it
    assert [(r.status_code, {k: r.json()[k] for k in rule}) for r in answers] == [(409, rule), (409, rule)]
    assert sent_to(team, cid) == []
