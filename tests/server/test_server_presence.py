"""Presence over the sync API: the status an agent sets, offline when none of their devices
was seen within 60 s (requests and streams are the heartbeat), announced once as
``agent.updated`` "presence" — also by the server's sweep when a device falls silent — and
the transfer picker's colleagues with presence and open load."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from tests.server.live import Team, wait_for
from tray_agent.server import sweeps


def cursor_of(team: Team, who: str) -> str:
    with team.http(who) as c:
        return str(c.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"])


def presence_events(team: Team, who: str, since: str) -> list[dict[str, Any]]:
    with team.http(who) as c:
        r = c.get("/sync/v1/events", params={"since": since, "wait": 0})
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["type"] == "agent.updated" and e["data"].get("change") == "presence"]


def picker(team: Team, who: str) -> dict[str, dict[str, Any]]:
    with team.http(who) as c:
        r = c.get("/sync/v1/agents")
    assert r.status_code == 200, r.text
    return {a["name"]: a for a in r.json()}


def test_the_status_an_agent_sets_is_what_colleagues_see_and_is_announced(team: Team):
    since = cursor_of(team, "Alice")
    with team.http("Bea") as bea:
        r = bea.put("/sync/v1/me/status", json={"status": "busy"}, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["presence"]) == ("busy", "busy")
        try:
            seen = picker(team, "Alice")["Bea"]
            assert (seen["status"], seen["presence"]) == ("busy", "busy")
            got = presence_events(team, "Alice", since)
            assert [(e["agent_id"], e["data"]["presence"]) for e in got] == [(team.agents["Bea"].id, "busy")]
            snapshot = bea.get("/sync/v1/snapshot", params={"limit": 1}).json()
            assert {a["name"]: a["presence"] for a in snapshot["agents"]}["Bea"] == "busy"
        finally:
            # Without a key too: setting a status twice is harmless.
            assert bea.put("/sync/v1/me/status", json={"status": "available"}).json()["presence"] == "available"


def test_a_status_other_than_available_away_busy_is_refused(team: Team):
    with team.http("Bea") as bea:
        r = bea.put("/sync/v1/me/status", json={"status": "lunch"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"


def test_the_picker_lists_colleagues_with_their_open_load(team: Team):
    before = picker(team, "Alice")["Carl"]["open_count"]
    conv = team.customer_says("for Carl")
    team.inbox.transfer(team.agents["Ada"].id, conv, to_agent_id=team.agents["Carl"].id)
    assert picker(team, "Alice")["Carl"]["open_count"] == before + 1
    team.inbox.close(team.agents["Carl"].id, conv)
    assert picker(team, "Alice")["Carl"]["open_count"] == before


def test_a_device_that_falls_silent_is_announced_offline_once_by_the_sweep(team: Team):
    dora = team.add_agent("Dora")
    assert picker(team, "Dora")["Dora"]["presence"] == "available"
    since = cursor_of(team, "Alice")
    team.clock.advance(timedelta(seconds=61))  # nobody has been seen for a minute now
    # The replica's supervised sweep (under its job lease) notices, without any request of Dora's.
    wait_for(lambda: any(e["agent_id"] == dora.id and e["data"]["presence"] == "offline"
                         for e in presence_events(team, "Alice", since)), timeout=30, what="Dora offline")
    sweeps.sweep(team.app)  # another pass announces nothing new
    offline = [e for e in presence_events(team, "Alice", since) if e["agent_id"] == dora.id]
    assert [e["data"]["presence"] for e in offline] == ["offline"]
    assert picker(team, "Alice")["Dora"]["presence"] == "offline"
    # Dora's next request is her heartbeat: she is back, and that is announced.
    assert picker(team, "Dora")["Dora"]["presence"] == "available"
    assert [e["data"]["presence"] for e in presence_events(team, "Alice", since)
            if e["agent_id"] == dora.id] == ["offline", "available"]


def test_the_last_seen_time_is_written_at_most_every_15_seconds_per_device(team: Team):
    def last_seen() -> Any:
        return [d for d in team.accounts.list_devices(team.agents["Bea"].id) if d.revoked_at is None][0].last_seen_at

    team.clock.advance(timedelta(seconds=20))
    picker(team, "Bea")
    first = last_seen()
    assert first == team.clock.now()
    team.clock.advance(timedelta(seconds=10))
    picker(team, "Bea")
    assert last_seen() == first  # a request 10 s later writes nothing
    team.clock.advance(timedelta(seconds=6))
    picker(team, "Bea")
    assert last_seen() == team.clock.now()


def test_a_transfer_to_an_offline_colleague_is_allowed_and_marked(team: Team):
    conv = team.customer_says("need a specialist")
    team.inbox.claim(team.agents["Alice"].id, conv)
    team.clock.advance(timedelta(seconds=61))  # Carl has not been seen since
    since = cursor_of(team, "Alice")
    with team.http("Alice") as alice:
        r = alice.post(f"/sync/v1/conversations/{conv}/transfer", json={"to_agent_id": team.agents["Carl"].id,
                                                                        "note": "when you are back"},
                       headers={"Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 200, r.text
        assert r.json()["assigned_agent_id"] == team.agents["Carl"].id
        assert r.json()["to_agent_presence"] == "offline"
        got = alice.get("/sync/v1/events", params={"since": since, "wait": 0}).json()["events"]
    transferred = [e for e in got if e["type"] == "conversation.transferred"]
    assert transferred[0]["data"]["to_agent_presence"] == "offline"
    conv2 = team.customer_says("another one")
    team.inbox.claim(team.agents["Alice"].id, conv2)
    picker(team, "Bea")  # Bea is seen now
    with team.http("Alice") as alice:
        r = alice.post(f"/sync/v1/conversations/{conv2}/transfer", json={"to_agent_id": team.agents["Bea"].id},
                       headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.json()["to_agent_presence"] == "available"


def test_an_open_event_stream_is_its_devices_heartbeat(team: Team):
    erin = team.add_agent("Erin")
    since = cursor_of(team, "Erin")
    stop, connected = threading.Event(), threading.Event()

    def listen() -> None:
        with team.http("Erin") as c, c.stream("GET", "/sync/v1/events", params={"since": since},
                                              headers={"Accept": "text/event-stream"}) as r:
            for _ in r.iter_lines():
                connected.set()
                if stop.is_set():
                    return

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    try:
        assert connected.wait(20)
        time.sleep(1)  # past the stream's first check-in, made as it opened
        team.clock.advance(timedelta(seconds=40))  # no request of Erin's since: only the stream
        checked_in = team.clock.now()

        def last_seen() -> Any:
            return team.accounts.list_devices(erin.id)[0].last_seen_at

        wait_for(lambda: last_seen() == checked_in, timeout=60, what="the stream's check-in")
        team.clock.advance(timedelta(seconds=40))  # 80 s after her last request: present still
        assert picker(team, "Alice")["Erin"]["presence"] == "available"
    finally:
        stop.set()
        reader.join(20)  # it returns at the next keep-alive


def test_streams_opened_together_spread_their_check_ins_over_the_period(team: Team, monkeypatch: Any):
    # A team signing in together (or a dead replica's desktops reconnecting at once) must not
    # check in together every period: that burst of database round trips stalled every
    # replica's deliveries for a second at 200 streams (bench/team_server.py --timeline).
    import asyncio

    import httpx

    from tray_agent.server import stream

    period, streams = 2.0, 20
    monkeypatch.setattr(stream, "TOUCH_EVERY", period)
    checks: list[float] = []
    device_active = team.accounts.device_active
    monkeypatch.setattr(team.accounts, "device_active", lambda d: checks.append(time.monotonic()) or device_active(d))
    since = cursor_of(team, "Alice")

    async def run() -> None:
        async with httpx.AsyncClient(base_url=team.url, timeout=30, limits=httpx.Limits(max_connections=streams),
                                     headers={"Authorization": f"Bearer {team.tokens['Alice']}"}) as c:
            async def listen() -> None:
                async with c.stream("GET", "/sync/v1/events", params={"since": since},
                                    headers={"Accept": "text/event-stream"}) as r:
                    async for _ in r.aiter_lines():
                        pass

            tasks = [asyncio.create_task(listen()) for _ in range(streams)]
            while len(checks) < streams:  # each stream checks in as it opens
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.9 * period)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    later = sorted(checks[streams:])
    assert len(later) >= streams // 2, f"only {len(later)} of {streams} streams checked in again within the period"
    window = period / 4
    bunched = max(sum(1 for u in later if t <= u < t + window) for t in later)
    assert bunched <= 0.6 * len(later), f"{bunched} of {len(later)} check-ins within {window} s"
