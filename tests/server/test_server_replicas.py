"""Two replicas on one PostgreSQL: a device token works on either, an event committed through
one reaches a stream on the other (LISTEN/NOTIFY wakes it; a periodic re-read covers a
missed wake-up), and claims racing across both have one winner."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tray_agent.server.runner import TeamServer
from tests.server.live import Team, second_replica


@pytest.fixture(scope="module")
def replica_b(team: Team, module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    with second_replica(team, module_db, tmp_path_factory.mktemp("replica-b") / "home") as b:
        yield b.server


def on_b(b: TeamServer, team: Team, who: str) -> httpx.Client:
    return httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {team.tokens[who]}"}, timeout=60)


def long_poll_after_commit_on_a(team: Team, b: TeamServer) -> tuple[list[dict], float]:
    with on_b(b, team, "Bea") as c:
        since = c.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"]
        threading.Timer(0.5, team.customer_says, args=("through replica A",)).start()
        t0 = time.monotonic()
        r = c.get("/sync/v1/events", params={"since": since, "wait": 20})
    assert r.status_code == 200
    return r.json()["events"], time.monotonic() - t0


def test_an_event_committed_via_one_replica_wakes_a_stream_on_the_other(team: Team, replica_b: TeamServer):
    tail = replica_b.api.state.tail
    tail.reread = 60.0  # only the NOTIFY can wake it in time...
    time.sleep(2.5)  # ...once the re-read already under way has passed
    try:
        got, took = long_poll_after_commit_on_a(team, replica_b)
    finally:
        tail.reread = 2.0
    assert [e["data"].get("direction") for e in got if e["type"] == "message.created"] == ["in"]
    assert took < 10


def test_claims_racing_across_both_replicas_have_one_winner(team: Team, replica_b: TeamServer):
    conv = team.customer_says("two doors")
    urls = {"Alice": team.url, "Bea": replica_b.url}
    barrier = threading.Barrier(2)
    results: dict[str, httpx.Response] = {}

    def claim(who: str) -> None:
        with httpx.Client(base_url=urls[who], headers={"Authorization": f"Bearer {team.tokens[who]}"}, timeout=60) as c:
            barrier.wait()
            results[who] = c.post(f"/sync/v1/conversations/{conv}/claim", headers={"Idempotency-Key": uuid.uuid4().hex})

    threads = [threading.Thread(target=claim, args=(w,)) for w in urls]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert sorted(r.status_code for r in results.values()) == [200, 409]
    winner = [w for w, r in results.items() if r.status_code == 200][0]
    loser = [r for r in results.values() if r.status_code == 409][0]
    assert loser.json()["owner_name"] == winner


def test_a_commit_that_sent_no_wake_up_is_still_noticed_within_seconds(team: Team, replica_b: TeamServer,
                                                                       monkeypatch: pytest.MonkeyPatch):
    from tray_agent.core import events as core_events

    monkeypatch.setattr(core_events, "NOTIFY_CHANNEL", "nobody_listens")  # replica A's wake-ups go nowhere
    got, took = long_poll_after_commit_on_a(team, replica_b)
    assert any(e["type"] == "message.created" for e in got) and took < 10
