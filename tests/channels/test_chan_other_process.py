"""Work written by another process reaches the running agent within a second: a reply
queued with `tray-agent send` (a separate process on the same store) is sent at once, not
at the outbox's 30-second timer."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx

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


def test_a_reply_queued_from_the_cli_reaches_an_open_window_live(live: Live) -> None:
    live.admin.customer_sends("sms", CUSTOMER, "Hi")
    conv = live.conversation(live.sms)
    seen: list[dict] = []  # type: ignore[type-arg]
    stop = threading.Event()

    def read() -> None:
        headers = {"Authorization": f"Bearer {live.server.token}"}
        with httpx.stream("GET", f"{live.url}/api/events/stream?after={live.app.inbox.last_seq()}",
                          headers=headers, timeout=30) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    data = json.loads(line[5:])
                    seen.extend(data if isinstance(data, list) else [data])
                if stop.is_set():
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: seen, what="the stream's hello")
    out = subprocess.run([sys.executable, "-m", "tray_agent", "send", str(conv.id), "Seen live", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    mid = json.loads(out.stdout)["id"]
    queued_at = time.monotonic()
    wait_for(lambda: any(e.get("message_id") == mid for e in seen), timeout=2.0,
             what="the window's stream to carry the CLI's reply")
    assert time.monotonic() - queued_at < 2.0
    stop.set()
