"""A team desktop mirrors what its agent may see and follows the server's events live: a
customer's message reaches the local API, a colleague's take-over leaves my list, a
transfer brings the whole history, a restart resumes from the stored cursor."""

from __future__ import annotations

import threading
import time

from tray_agent.core.models import Message
from tray_agent.team.sync import SyncTask

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


def _transactions_and_statements(engine, run):  # type: ignore[no-untyped-def]
    """What ``run()`` costs on ``engine`` from this thread: (transactions, statements)."""
    from sqlalchemy import event

    me, begun, executed = threading.get_ident(), [0], [0]

    def on_begin(_conn) -> None:  # type: ignore[no-untyped-def]
        begun[0] += threading.get_ident() == me

    def on_execute(*_a) -> None:  # type: ignore[no-untyped-def]
        executed[0] += threading.get_ident() == me

    event.listen(engine, "begin", on_begin)
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        got = run()
    finally:
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "before_cursor_execute", on_execute)
    return got, begun[0], executed[0]


def test_one_fetch_brings_each_new_conversation_its_own_history_in_one_transaction(team: Team, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tray_agent.core import fetch

    monkeypatch.setattr(fetch, "HISTORY", 3)  # the newest 3 of a customer's history, then paging back
    earlier = team.customer_says("earlier 1")
    address = team.address_of(earlier)
    team.customer_says("earlier 2", address=address)
    with team.http("Alice") as a:
        for action in ("claim", "close"):
            assert a.post(f"/sync/v1/conversations/{earlier}/{action}",
                          headers={"Idempotency-Key": f"h-{action}-{earlier}"}).status_code == 200
    again = team.customer_says("again 1", address=address)
    team.customer_says("again 2", address=address)
    alone = team.customer_says("a first-time customer")
    bea = team.agents["Bea"].id

    with team.http("Bea") as b:
        got = b.post("/sync/v1/fetch", json={"conversation_ids": [again, alone], "history_ids": [again, alone]}).json()
        by_id = {h["conversation_id"]: h for h in got["histories"]}
        assert set(by_id) == {again, alone}
        # The newest three of the customer's two sessions (the earlier one ends with its
        # system rows), oldest first, and where to page back from.
        page = [m["text"] for m in by_id[again]["messages"]]
        assert len(page) == 3 and page[1:] == ["again 1", "again 2"]
        assert by_id[again]["next_before"] == by_id[again]["messages"][0]["id"]
        older = b.get(f"/sync/v1/conversations/{again}/messages",
                      params={"before": by_id[again]["next_before"], "limit": 200}).json()["items"]
        assert [m["text"] for m in older][:2] == ["earlier 1", "earlier 2"]
        assert [r["id"] for r in by_id[again]["related"]] == [earlier]
        # Another customer's history is theirs alone.
        assert [m["text"] for m in by_id[alone]["messages"]] == ["a first-time customer"]
        assert by_id[alone]["related"] == [] and by_id[alone]["next_before"] is None
        # The same as each conversation's own history and detail answer.
        for cid in (again, alone):
            assert by_id[cid]["messages"] == b.get(f"/sync/v1/conversations/{cid}/messages",
                                                   params={"limit": 3}).json()["items"]
            assert by_id[cid]["related"] == b.get(f"/sync/v1/conversations/{cid}").json()["related"]

    def cost(ids: list[int]) -> tuple[int, int]:
        _, transactions, statements = _transactions_and_statements(
            team.app.db.engine, lambda: team.inbox.fetch(bea, ids, [], ids))
        return transactions, statements

    # One read transaction, and a second history costs no further statement (batched, not
    # a round of reads per conversation).
    (one_tx, one), (two_tx, two) = cost([again]), cost([again, alone])
    assert one_tx == two_tx == 1 and two == one


def test_a_colleagues_presence_in_the_same_burst_does_not_hold_up_a_customer_message(team: Team, desktops,  # type: ignore[no-untyped-def]
                                                                                     monkeypatch) -> None:
    alice = desktops("Alice")
    wait_for(lambda: alice.connection()["state"] == "online", what="Alice's desktop online")
    with team.http("Alice") as a:
        cursor = a.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"]
    with team.http("Bea") as b:
        assert b.put("/sync/v1/me/status", json={"status": "away"}).status_code == 200
    cid = team.customer_says("in the same burst as Bea's presence")
    with team.http("Alice") as a:
        burst = a.get("/sync/v1/events", params={"since": cursor}).json()
    assert {"agent.updated", "message.created"} <= {e["type"] for e in burst["events"]}
    # The server answers the directory's refresh and the burst's fetch slowly: the desktop
    # asks both at once instead of one after the other.
    slow = 1.5
    server = team.app.inbox
    for name in ("snapshot_json", "fetch"):
        real = getattr(server, name)
        monkeypatch.setattr(server, name, lambda *a, _real=real, **k: (time.sleep(slow), _real(*a, **k))[1])
    t0 = time.monotonic()
    SyncTask(alice.app.inbox, alice.app.inbox.link).apply(burst["events"], burst["cursor"])
    took = time.monotonic() - t0
    assert cid in alice.inbox_ids()
    assert took < 2 * slow, f"the burst took {took:.1f} s"
