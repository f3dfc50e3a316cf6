"""A team desktop mirrors what its agent may see and follows the server's events live: a
customer's message reaches the local API, a colleague's take-over leaves my list, a
transfer brings the whole history, a restart resumes from the stored cursor."""

from __future__ import annotations

import threading

from tray_agent.core.models import Message

from tests.server.live import CONSOLE_ACTOR, Team
from tests.team.desktop import start_desktop, wait_for


def test_cold_sync_then_a_customer_message_appears_in_the_local_api(team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    before = team.customer_says("already there")
    alice = desktops("Alice")
    wait_for(lambda: before in alice.inbox_ids(), what="the snapshot in Alice's cache")
    cid = team.customer_says("is my parcel lost?")
    wait_for(lambda: cid in alice.inbox_ids(), what="the new conversation in Alice's cache")
    msgs = alice.get(f"/api/conversations/{cid}/messages")["items"]
    assert [m["text"] for m in msgs] == ["is my parcel lost?"]
    assert alice.connection()["state"] == "online"
    # Search works from the cache, with no network.
    hits = alice.get("/api/search", params={"q": "parcel"})
    assert [h["message"]["conversation_id"] for h in hits] == [cid]


def history_texts(desktop, cid: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [m["text"] for m in desktop.get(f"/api/conversations/{cid}/messages", params={"limit": 200})["items"]]


def test_a_transfer_with_a_note_brings_the_whole_history_to_the_colleague(team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    first = team.customer_says("my first question")
    address = team.address_of(first)
    with team.http("Alice") as a:
        for action in ("claim", "close"):
            assert a.post(f"/sync/v1/conversations/{first}/{action}",
                          headers={"Idempotency-Key": f"{action}-{first}"}).status_code == 200
    second = team.customer_says("it happened again", address=address)
    assert second != first
    alice, carl = desktops("Alice"), desktops("Carl")
    wait_for(lambda: second in alice.inbox_ids(), what="the new session in Alice's cache")
    assert second not in carl.inbox_ids()  # not his queue
    with alice.http() as c:
        assert c.post(f"/api/conversations/{second}/claim").status_code == 200
        r = c.post(f"/api/conversations/{second}/transfer",
                   json={"to_agent_id": team.agents["Carl"].id, "note": "VIP, be quick"})
        assert r.status_code == 200, r.text
    wait_for(lambda: second in carl.inbox_ids(), what="the transfer reaching Carl's cache")
    texts = wait_for(lambda: (t := history_texts(carl, second)) and "my first question" in t and t,
                     what="the earlier session in Carl's history")
    assert texts.index("my first question") < texts.index("it happened again")
    assert any("VIP, be quick" in t for t in texts)  # the transfer's system row, with the note
    wait_for(lambda: second not in alice.inbox_ids(), what="the conversation leaving Alice's list")
    detail = carl.get(f"/api/conversations/{second}")
    assert detail["assigned_agent_id"] == team.agents["Carl"].id


def test_a_restarted_desktop_resumes_from_its_cursor_and_misses_nothing(team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    cid = team.customer_says("before the restart")
    alice = desktops("Alice")
    wait_for(lambda: cid in alice.inbox_ids(), what="the conversation in Alice's cache")
    cursor = alice.connection()["cursor"]
    last_local = alice.get("/api/session")["last_seq"]
    alice.stop()
    address = team.address_of(cid)
    team.customer_says("while you were away", address=address)
    other = team.customer_says("a new one meanwhile")
    again = start_desktop(alice.home)
    try:
        wait_for(lambda: other in again.inbox_ids() and "while you were away" in history_texts(again, cid),
                 what="what happened while it was stopped")
        assert again.connection()["cursor"] != cursor
        # Resumed, not rebuilt: the events were copied one by one (a snapshot writes "synced" rows).
        evs = again.get("/api/events", params={"after": last_local, "limit": 500})
        kinds = {(e["type"], e["data"].get("change")) for e in evs}
        assert ("message.created", None) in kinds and ("conversation.updated", "synced") not in kinds
    finally:
        again.stop()


def test_must_resync_rebuilds_without_ever_showing_an_empty_inbox(team: Team, desktops) -> None:  # type: ignore[no-untyped-def]
    kept = team.customer_says("still here after the restore")
    taken = team.customer_says("taken while the desktop was away")
    alice = desktops("Alice")
    wait_for(lambda: {kept, taken} <= set(alice.inbox_ids()), what="both in Alice's cache")
    alice.stop()
    with team.http("Bea") as b:
        assert b.post(f"/sync/v1/conversations/{taken}/claim", headers={"Idempotency-Key": f"c-{taken}"}).status_code == 200
    epoch = team.accounts.new_epoch(CONSOLE_ACTOR)
    seen: list[set[int]] = []
    stop = threading.Event()
    again = start_desktop(alice.home)
    try:
        def watch() -> None:
            while not stop.is_set():
                seen.append(set(again.inbox_ids()))

        t = threading.Thread(target=watch, daemon=True)
        t.start()
        wait_for(lambda: (again.connection()["cursor"] or "").startswith(epoch), what="a cursor of the new epoch")
        wait_for(lambda: taken not in again.inbox_ids(), what="the sweep of what the snapshot lacked")
        stop.set()
        t.join(5)
        assert seen and all(kept in ids for ids in seen), "the inbox went without the kept conversation"
        assert kept in again.inbox_ids()
    finally:
        again.stop()


def test_the_batch_fetch_gives_only_what_the_agent_sees(team: Team) -> None:
    first = team.customer_says("an earlier question")
    with team.http("Alice") as a:
        for action in ("claim", "close"):
            a.post(f"/sync/v1/conversations/{first}/{action}", headers={"Idempotency-Key": f"f-{action}-{first}"})
    cid = team.customer_says("a queue's question", address=team.address_of(first))
    with team.app.db.read() as s:
        mid = s.query(Message.id).filter(Message.conversation_id == cid).scalar()
    body = {"conversation_ids": [cid, 999999], "message_ids": [mid], "history_ids": [cid]}
    with team.http("Bea") as b:
        got = b.post("/sync/v1/fetch", json=body).json()
    assert [c["id"] for c in got["conversations"]] == [cid] and [m["id"] for m in got["messages"]] == [mid]
    (h,) = got["histories"]
    texts = [m["text"] for m in h["messages"]]
    assert texts.index("an earlier question") < texts.index("a queue's question")
    assert first in [r["id"] for r in h["related"]]
    with team.http("Carl") as c:  # not in the queue: sees none of it, and no error says it exists
        r = c.post("/sync/v1/fetch", json=body)
    assert r.status_code == 200 and r.json() == {"conversations": [], "messages": [], "histories": []}
    with team.http() as anon:
        assert anon.post("/sync/v1/fetch", json=body).status_code == 401
    with team.http("Bea") as b:
        r = b.post("/sync/v1/fetch", json={"conversation_ids": "all"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"
