"""The window reads from the cache: a team desktop started with the server unreachable answers
its first inbox page, a conversation's messages and search at once, with what it synced
before; so does one whose link was cut a moment ago (before it noticed)."""

from __future__ import annotations

import socket
import time
from typing import Any

from tests.server.live import Team
from tests.team.desktop import Desktop, start_desktop, wait_for
from tests.team.proxy import Relay
from tests.team.test_team_upstream import relay  # noqa: F401  (the fixture)

#: What "does not wait on the network" means here, with the machine under load.
QUICK = 1.0


def timed_get(d: Desktop, path: str, **params: Any) -> Any:
    with d.http() as c:
        t0 = time.monotonic()
        r = c.get(path, params=params)
        took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    assert took < QUICK, f"{path} took {took:.2f} s with the server unreachable"
    return r.json()


def reads_from_the_cache(d: Desktop, cids: list[int], word: str) -> None:
    """What the window reads for its first paint, opening a conversation and searching."""
    assert timed_get(d, "/api/session")["agent"]["name"] == "Alice"
    assert timed_get(d, "/api/connection")["mode"] == "team"
    timed_get(d, "/api/inbox/unread")
    assert {"Alice", "Bea"} <= {a["name"] for a in timed_get(d, "/api/agents")}  # the transfer picker
    assert [q["name"] for q in timed_get(d, "/api/queues")] == ["Support"]
    assert "Support SMS" in {c["name"] for c in timed_get(d, "/api/channels")}
    page = timed_get(d, "/api/inbox", filter="all", limit=50)
    assert [c["id"] for c in page["items"]][:3] == cids[::-1]  # newest first
    assert page["items"][0]["last_message_preview"] == f"third question about {word}"
    assert timed_get(d, f"/api/conversations/{cids[0]}")["id"] == cids[0]
    msgs = timed_get(d, f"/api/conversations/{cids[0]}/messages")["items"]
    assert [m["text"] for m in msgs] == [f"first question about {word}"]
    hits = timed_get(d, "/api/search", q=word)
    assert sorted(h["conversation"]["id"] for h in hits) == sorted(cids)
    assert {h["message"]["text"] for h in hits} == {f"{n} question about {word}" for n in ("first", "second", "third")}


def test_started_offline_the_window_reads_inbox_messages_and_search_from_the_cache_at_once(
        team: Team, desktops, relay: Relay) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    cids = [team.customer_says(f"{n} question about zanzibarparcel") for n in ("first", "second", "third")]
    alice = desktops("Alice", relay.url)
    wait_for(lambda: set(cids) <= set(alice.inbox_ids()), what="the conversations in Alice's cache")
    relay.block()  # cut, and read at once: before the link has noticed
    reads_from_the_cache(alice, cids, "zanzibarparcel")
    alice.stop()
    again = start_desktop(alice.home)  # offline from the start: the server never answers
    try:
        reads_from_the_cache(again, cids, "zanzibarparcel")
        assert again.connection()["state"] != "online"
        wait_for(lambda: again.connection()["state"] == "offline", what="the window told it is offline")
        reads_from_the_cache(again, cids, "zanzibarparcel")
    finally:
        again.stop()


def test_a_server_that_takes_the_connection_and_never_answers_does_not_hold_the_window_up(
        team: Team, desktops, relay: Relay) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The worse network: connections open (a captive portal, a dead VPN) and nothing comes back."""
    cids = [team.customer_says(f"{n} question about quokkaparcel") for n in ("first", "second", "third")]
    alice = desktops("Alice", relay.url)
    wait_for(lambda: set(cids) <= set(alice.inbox_ids()), what="the conversations in Alice's cache")
    alice.stop()
    silent = socket.create_server(("127.0.0.1", 0), backlog=64)  # the kernel accepts; nobody answers
    try:
        relay.target = silent.getsockname()[:2]
        again = start_desktop(alice.home)
        try:
            reads_from_the_cache(again, cids, "quokkaparcel")
            time.sleep(1.0)  # the link now waits on the silent server
            reads_from_the_cache(again, cids, "quokkaparcel")
            assert again.connection()["state"] != "online"
        finally:
            again.stop()
    finally:
        silent.close()
