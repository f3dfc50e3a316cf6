"""A replica killed while Twilio is still processing its send: the replica taking the outbox
over must not decide the send before Twilio could have answered it. Asked too early, Twilio
does not list it yet, the reply goes out again, and the customer gets it twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tray_agent.core.models import Message
from tests.server.live import wait_for
from tests.server.procs import cluster
from tests.server.test_server_kill import conversation_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
#: Longer than a take-over (about 6-9 s), shorter than the Twilio channel's send timeout (15 s).
TWILIO_TAKES = 11.0


def test_a_send_still_at_twilio_when_its_replica_dies_is_sent_once(tmp_path: Path, postgres_db_url: str):
    with cluster(tmp_path, postgres_db_url, nginx=False) as team:
        victim = team.replicas["a"]
        assert team.holds_every_job("a")
        conv = conversation_of(team, team.customer_sends("+14156660300", "hello")["ids"][0])
        team.admin.fault(provider="twilio", kind="slow", delay=TWILIO_TAKES, method="POST", path="/Messages.json")
        mid = team.reply("Bea", conv, "reply in flight", via="b")["id"]
        wait_for(lambda: team.admin.http.get("/_sandbox/faults").json() == [], timeout=20, what="a's send at Twilio")
        at_twilio = time.monotonic()
        victim.kill()
        wait_for(lambda: team.holds_every_job("b"), timeout=20, what="b taking the outbox over")
        assert time.monotonic() - at_twilio < TWILIO_TAKES  # b holds the outbox while Twilio still works

        def sent() -> bool:
            with team.app.db.read() as s:
                return s.get_one(Message, mid).status in ("sent", "delivered")
        wait_for(sent, timeout=40, what="the reply recorded as sent")
        time.sleep(max(0.0, at_twilio + TWILIO_TAKES + 3 - time.monotonic()))  # a second send would be there now
        outbound = team.admin.outbound("sms")
        assert [m["text"] for m in outbound] == ["reply in flight"]
        with team.app.db.read() as s:
            assert s.get_one(Message, mid).provider_message_id == outbound[0]["id"]
