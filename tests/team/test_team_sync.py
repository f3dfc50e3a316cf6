"""A team desktop mirrors what its agent may see and follows the server's events live: a
customer's message reaches the local API, a colleague's take-over leaves my list, a
transfer brings the whole history, a restart resumes from the stored cursor."""

from __future__ import annotations

from tests.server.live import Team
from tests.team.desktop import wait_for


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
