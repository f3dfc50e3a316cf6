"""A call from a team desktop is dialled here (the handler is this machine's) and recorded by
the team server, so colleagues see the "call" row: shown at once in my history, sent once
under its key — offline too, when the connection is back."""

from __future__ import annotations

from sqlalchemy import select

from tray_agent.default_plugins import tel_call_handler

from tray_agent.core.mirror import ECHO_BASE
from tray_agent.core.models import Message
from tests.core.test_calls import opener  # noqa: F401  (a stand-in for xdg-open)
from tests.server.live import Team
from tests.team.desktop import wait_for
from tests.team.proxy import Relay
from tests.team.test_team_upstream import offline_in_a_conversation, relay  # noqa: F401  (the relay fixture)


#: The built-in tel: handler, registered as the desktop's entry points would.
TEL = [(tel_call_handler, "tel_call_handler")]


def server_calls(team: Team, cid: int) -> list[str]:
    with team.app.db.read() as s:
        return list(s.execute(select(Message.text).where(Message.conversation_id == cid, Message.kind == "call")
                              .order_by(Message.id)).scalars())


def calls_seen(desktop, cid: int) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return [m for m in desktop.get(f"/api/conversations/{cid}/messages")["items"] if m["kind"] == "call"]


def test_a_call_is_dialled_here_and_its_row_reaches_colleagues(team: Team, desktops, opener) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    cid = team.customer_says("call me please")
    number = team.address_of(cid)
    alice, bea = desktops("Alice", plugins=TEL), desktops("Bea")
    wait_for(lambda: cid in alice.inbox_ids() and cid in bea.inbox_ids(), what="the conversation in both caches")
    with alice.http() as c:
        r = c.post(f"/api/conversations/{cid}/call", json={"handler": "tel"})
    assert r.status_code == 200, r.text
    assert opener.read_text().splitlines() == [f"tel:{number}"]  # dialled on Alice's machine
    assert r.json()["message"]["kind"] == "call"
    wait_for(lambda: len(server_calls(team, cid)) == 1, what="the call recorded on the server")
    assert server_calls(team, cid)[0].startswith(f"Call to {number}: ")
    row = wait_for(lambda: calls_seen(bea, cid), what="the call row in Bea's history")
    assert len(row) == 1 and row[0]["meta"]["handler"] == "tel"
    # Alice's row at once became the server's (its id), not a second one.
    mine = wait_for(lambda: (ms := calls_seen(alice, cid)) and all(m["id"] < ECHO_BASE for m in ms) and ms,
                    what="Alice's row replaced by the server's")
    assert len(mine) == 1


def test_a_call_made_offline_is_shown_at_once_and_recorded_once_back_online(team: Team, desktops, opener,  # noqa: F811
                                                                            relay: Relay) -> None:  # noqa: F811
    cid, alice = offline_in_a_conversation(team, desktops, relay, "Alice", "ring me", plugins=TEL)
    with alice.http() as c:
        r = c.post(f"/api/conversations/{cid}/call", json={"handler": "tel"})
    assert r.status_code == 200, r.text
    assert [m["id"] for m in calls_seen(alice, cid)] == [r.json()["message"]["id"]]  # in my history at once
    conn = alice.connection()
    assert conn["pending"] == 1 and conn["pending_replies"] == 0  # a call is no reply waiting
    assert server_calls(team, cid) == []
    relay.unblock()
    wait_for(lambda: alice.connection()["pending"] == 0, timeout=40, what="the call going upstream")
    assert len(server_calls(team, cid)) == 1
    wait_for(lambda: [m["id"] < ECHO_BASE for m in calls_seen(alice, cid)] == [True], what="one row, the server's")
