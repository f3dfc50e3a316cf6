"""The team server's sweep (one replica at a time, under its job lease) forgets idempotency
records older than the retention: a repeat within it replays the first answer, one after it
is a new action."""

from __future__ import annotations

from datetime import timedelta

from tests.server.live import Team, wait_for
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
