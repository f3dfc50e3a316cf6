"""A replica killed with SIGKILL mid-stream, as the issue tells it: two ``tray-agent server``
processes on one PostgreSQL behind the nginx example, the provider sandbox sending signed
webhooks all along, desktops' event streams through nginx and straight to the victim, a
reply at the provider when the victim dies. Its clients reconnect with Last-Event-ID and miss
no event, its jobs move within 10 s, no message is sent twice and none received is lost."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tray_agent.core.models import Message
from tests.server.live import wait_for
from tests.server.procs import Cluster, Follower, all_events, cluster

pytestmark = [pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (packaging/bootstrap.sh)")]
TAKEOVER_MAX = 10.0


class Customers:
    """Customers texting the business every ``every`` s, from a few phones, until stopped."""

    def __init__(self, team: Cluster, every: float = 0.15) -> None:
        self.team, self.every = team, every
        self.sent: list[tuple[str, str]] = []  # (sid, webhook outcome)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            out = self.team.customer_sends(f"+1415666{n % 7:04d}", f"customer text {n}")
            status = [d["status"] for d in out["deliveries"]]
            self.sent.append((out["ids"][0], str(status)))
            time.sleep(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def conversation_of(team: Cluster, sid: str) -> int:
    def find() -> int | None:
        with team.app.db.read() as s:
            return s.execute(select(Message.conversation_id).where(Message.provider_message_id == sid)).scalar()
    return int(wait_for(find, timeout=30, what=f"the inbound message {sid} in the inbox"))


def statuses(team: Cluster, ids: list[int]) -> set[str | None]:
    with team.app.db.read() as s:
        return {s.get_one(Message, m).status for m in ids}


def test_a_replica_killed_mid_stream_loses_nothing_and_sends_nothing_twice(tmp_path: Path, postgres_db_url: str):
    with cluster(tmp_path, postgres_db_url) as team:
        victim, survivor = team.replicas["a"], team.replicas["b"]
        assert team.holds_every_job("a")
        first = team.customer_sends("+14156660100", "hello before")["ids"][0]
        conv = conversation_of(team, first)
        with team.http("Bea") as c:
            cursor = c.get("/sync/v1/snapshot", params={"limit": 1, "messages": 0}).json()["cursor"]
        # Two streams through nginx (round robin: one on each replica), two straight to the victim.
        streams = [Follower(team, "Bea", cursor, [None]) for _ in range(2)]
        streams += [Follower(team, "Bea", cursor, ["a", "b"]) for _ in range(2)]
        customers = Customers(team)
        before = [team.reply("Bea", conv, f"reply before {n}")["id"] for n in range(2)]
        wait_for(lambda: statuses(team, before) <= {"sent", "delivered"}, what="the first replies sent")

        # The victim is at the provider with a reply (Twilio takes 2 s to answer it) when it dies.
        team.admin.fault(provider="twilio", kind="slow", delay=2.0, method="POST", path="/Messages.json")
        in_flight = team.reply("Bea", conv, "reply in flight")["id"]
        wait_for(lambda: team.admin.http.get("/_sandbox/faults").json() == [], timeout=20, what="the send at the provider")
        victim.kill()
        died = time.monotonic()
        during = [team.reply("Bea", conv, f"reply during {n}")["id"] for n in range(3)]  # through nginx: to b

        moved: dict[str, float] = {}

        def all_moved() -> bool:
            for job, holder in team.holders().items():
                if job not in moved and holder.startswith(survivor.holder_prefix):
                    moved[job] = time.monotonic() - died
            return team.jobs <= set(moved)
        wait_for(all_moved, timeout=TAKEOVER_MAX + 10, what="the jobs moving to the survivor", )
        print("jobs moved after (s):", {j: round(t, 2) for j, t in sorted(moved.items())})
        assert max(moved.values()) <= TAKEOVER_MAX, moved

        replies = before + [in_flight] + during
        wait_for(lambda: statuses(team, replies) <= {"sent", "delivered"}, timeout=30, what="every reply sent")
        time.sleep(3)  # customers keep texting; a reply sent twice would show at the provider now
        customers.stop()
        texts = team.outbound_texts()
        assert sorted(texts) == sorted(["reply before 0", "reply before 1", "reply in flight",
                                        "reply during 0", "reply during 1", "reply during 2"]), texts

        # Every text the provider took from a customer is in the inbox once (by webhook, or by
        # the survivor's poller for a webhook the victim took to its grave).
        sids = team.inbound_sids()
        assert len(sids) == len(customers.sent) + 1

        def all_stored() -> bool:
            with team.app.db.read() as s:
                held = list(s.execute(select(Message.provider_message_id).where(
                    Message.provider_message_id.in_(sids))).scalars())  # type: ignore[union-attr]
            return sorted(held) == sorted(sids)
        wait_for(all_stored, timeout=30, what="every customer text in the inbox")

        # Each stream reconnected, and has every event Bea may see, once, in order.
        truth = all_events(team, "Bea", cursor, "b")
        wait_for(lambda: all(s.seqs[-1:] == truth[-1:] for s in streams), timeout=20, what="the streams catching up")
        for s in streams:
            s.close()
        for n, s in enumerate(streams):
            assert s.seqs == truth, (n, s.connects, len(s.seqs), len(truth))
        assert all(len(s.connects) >= 2 for s in streams[2:])  # the victim's own: reconnected to b
        assert [s.connects[-1] for s in streams[2:]] == ["b", "b"]
        assert any(len(s.connects) >= 2 for s in streams[:2])  # the one nginx had sent to the victim
        assert victim.proc.returncode == -9 and survivor.proc.poll() is None
