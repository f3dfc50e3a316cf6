"""Work written by another process reaches the running agent within a second: a reply
queued with `tray-agent send` (a separate process on the same store) is sent at once, not
at the outbox's 30-second timer."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from tests.channels.live import CUSTOMER, Live, wait_for


def test_a_reply_queued_from_the_cli_is_sent_within_two_seconds(live: Live) -> None:
    live.admin.customer_sends("sms", CUSTOMER, "Hi")
    conv = live.conversation(live.sms)
    # The CLI stamps the outbox with the real time: the agent's (test) clock must be past it.
    live.clock.set(datetime.now(timezone.utc) + timedelta(minutes=1))
    time.sleep(0.5)  # let the outbox go back to its (30 s) sleep
    out = subprocess.run([sys.executable, "-m", "tray_agent", "send", str(conv.id), "From the command line"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    queued_at = time.monotonic()
    wait_for(lambda: [m for m in live.admin.outbound("sms") if m["text"] == "From the command line"],
             timeout=2.0, what="the sandbox to receive the CLI's reply")
    assert time.monotonic() - queued_at < 2.0
