"""The team server's sweep (one replica at a time, under its job lease) forgets idempotency
records older than the retention: a repeat within it replays the first answer, one after it
is a new action; and events older than the log's retention, so that a cursor from before
them is told to resync."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tests.server.live import Team, wait_for
from tray_agent.core.models import Event
from tray_agent.core.team_models import IdempotencyRecord
from tray_agent.server.sweeps import IDEMPOTENCY_RETENTION


def stored(team: Team, who: str, key: str) -> bool:
    with team.app.db.read() as s:
        return s.get(IdempotencyRecord, (team.agents[who].id, key)) is not None


def test_idempotency_records_older_than_the_retention_are_pruned_by_the_sweep(team: Team):
    conv = team.customer_says("remember me")
    with team.http("Bea") as bea:
        old = bea.post(f"/sync/v1/conversations/{conv}/read", headers={"Idempotency-Key": "old-key"})
        assert old.status_code == 200
        team.clock.advance(IDEMPOTENCY_RETENTION - timedelta(hours=1))
        assert bea.post(f"/sync/v1/conversations/{conv}/archive", headers={"Idempotency-Key": "young-key"}).status_code == 200
        team.clock.advance(timedelta(hours=2))  # old-key is past the retention now, young-key is not
        # The replica's own sweep prunes it, no request needed.
        wait_for(lambda: not stored(team, "Bea", "old-key"), timeout=30, what="the old record pruned")
        assert stored(team, "Bea", "young-key")
        # Past the retention the key is free: the same key is a new action now.
        again = bea.post(f"/sync/v1/conversations/{conv}/unarchive", headers={"Idempotency-Key": "old-key"})
        assert again.status_code == 200 and again.json()["archived"] is False
        replay = bea.post(f"/sync/v1/conversations/{conv}/archive", headers={"Idempotency-Key": "young-key"})
        assert replay.json()["archived"] is True  # the first answer, replayed


def test_events_past_the_logs_retention_are_pruned_and_a_cursor_before_them_must_resync(team: Team):
    with team.http("Alice") as alice:
        old_cursor = alice.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"]
        team.customer_says("an old question")
        team.clock.advance(timedelta(days=team.app.config.server.keep_events_days, hours=1))
        conv = team.customer_says("a new question")  # its events are young: they stay
        cutoff = team.clock.now() - timedelta(days=team.app.config.server.keep_events_days)

        def old_events() -> int:
            with team.app.db.read() as s:
                return int(s.execute(select(func.count()).select_from(Event).where(Event.created_at < cutoff)).scalar_one())

        # The replica's own sweep prunes them, no request needed.
        wait_for(lambda: old_events() == 0, timeout=30, what="the events past the retention pruned")
        with team.app.db.read() as s:
            assert s.execute(select(func.count()).select_from(Event).where(Event.conversation_id == conv)).scalar_one()
        r = alice.get("/sync/v1/events", params={"since": old_cursor, "wait": 0})
        assert r.status_code == 410 and r.json()["error"] == "must_resync", r.text
        assert "no longer keeps" in r.json()["message"]
        fresh = alice.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"]
        assert alice.get("/sync/v1/events", params={"since": fresh, "wait": 0}).status_code == 200
