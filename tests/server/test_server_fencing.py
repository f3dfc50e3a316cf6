"""Lease fencing with real processes: a replica frozen past its lease (SIGSTOP) cannot
finish a write the replica that took the outbox over has decided: nothing is sent twice, the
stale write is refused and logged, the stale holder steps down."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tray_agent.core.models import Message
from tests.server.live import wait_for
from tests.server.procs import cluster
from tests.server.test_server_kill import conversation_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
TAKEOVER_MAX = 10.0


def test_a_replica_frozen_past_its_lease_cannot_undo_what_the_new_holder_sent(tmp_path: Path, postgres_db_url: str):
    with cluster(tmp_path, postgres_db_url, nginx=False) as team:
        frozen, other = team.replicas["a"], team.replicas["b"]
        conv = conversation_of(team, team.customer_sends("+14156660200", "hello")["ids"][0])
        # Twilio keeps a's request 4 s, unprocessed, then drops the connection: a's send is
        # in flight, and fails, while a is frozen.
        team.admin.fault(provider="twilio", kind="hang", delay=4.0, method="POST", path="/Messages.json")
        mid = team.reply("Bea", conv, "sent once", via="b")["id"]
        wait_for(lambda: team.admin.http.get("/_sandbox/faults").json() == [], timeout=20, what="a's send at Twilio")
        frozen.freeze()
        stopped = time.monotonic()
        try:
            # b takes the outbox over, finds Twilio never got the message, and sends it.
            wait_for(lambda: team.holds_every_job("b"), timeout=TAKEOVER_MAX + 5, what="b taking the jobs over")
            assert time.monotonic() - stopped <= TAKEOVER_MAX
            wait_for(lambda: team.outbound_texts() == ["sent once"], timeout=20, what="b sending the reply")
            time.sleep(1)
        finally:
            frozen.thaw()
        # a wakes to its send's failure: "retry later" would put the message back in the
        # outbox, and b would send it again. The fence refuses that write.
        time.sleep(3)  # a's send fails at once; a retry would be due after its backoff (2 s)
        team.customer_sends("+14156660200", "still there?")  # b's outbox wakes (any commit does)
        time.sleep(5)
        assert team.outbound_texts() == ["sent once"]
        with team.app.db.read() as s:
            assert s.get_one(Message, mid).status in ("sent", "delivered")
        log = frozen.log()
        assert "steps down from outbox" in log, log[-3000:]
        assert f"outbox: message {mid}:" in log and "its write was refused" in log, log[-3000:]
        assert team.holds_every_job("b") and frozen.proc.poll() is None
        assert "steps down" not in other.log()
