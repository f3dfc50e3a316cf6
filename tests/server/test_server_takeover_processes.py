"""Take-over raced across two real ``tray-agent server`` processes on one PostgreSQL: of 50
members claiming one conversation at once, half through each replica, exactly one wins and
the 49 others are told ``already_taken`` naming the winner (docs/sync.md, Queues)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tray_agent.core.models import Conversation
from tests.server.procs import cluster
from tests.server.test_server_kill import conversation_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
RACERS = tuple(f"Racer{i:02d}" for i in range(50))


def test_fifty_take_overs_split_across_two_replica_processes_have_one_winner(tmp_path: Path, postgres_db_url: str):
    with cluster(tmp_path, postgres_db_url, nginx=False, agents=RACERS) as team:
        conv = conversation_of(team, team.customer_sends("+14156660300", "who takes me?")["ids"][0])
        barrier = threading.Barrier(len(RACERS))
        results: dict[str, httpx.Response] = {}

        def claim(i: int, name: str) -> None:
            with team.http(name, via="ab"[i % 2]) as c:
                c.get("/sync/v1/me")  # the connection is open before the start
                barrier.wait()
                results[name] = c.post(f"/sync/v1/conversations/{conv}/claim",
                                       headers={"Idempotency-Key": f"race-{name}"})

        threads = [threading.Thread(target=claim, args=(i, n)) for i, n in enumerate(RACERS)]
        [t.start() for t in threads]
        [t.join(120) for t in threads]
        assert len(results) == len(RACERS)
        winners = [n for n, r in results.items() if r.status_code == 200]
        assert len(winners) == 1, {n: r.status_code for n, r in results.items()}
        winner = winners[0]
        losers = [r for r in results.values() if r.status_code == 409]
        assert len(losers) == 49
        for r in losers:
            body = r.json()
            assert body["error"] == "already_taken" and body["message"]
            assert body["owner_name"] == winner and body["owner_id"] == team.agent_ids[winner]
            assert body["taken_at"] is not None
        # Both replicas answered refusals (the race really was across processes).
        refused_on = {RACERS.index(n) % 2 for n, r in results.items() if r.status_code == 409}
        assert refused_on == {0, 1}
        assert results[winner].json()["assigned_agent_id"] == team.agent_ids[winner]
        with team.app.db.read() as s:
            assert s.get_one(Conversation, conv).assigned_agent_id == team.agent_ids[winner]
