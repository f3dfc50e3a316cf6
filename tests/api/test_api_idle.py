"""An idle agent lets the CPU rest: its HTTP servers (the API, and the provider sandbox
that runs beside it out of the box, in its own process) wake about once a second, keep the
Date header current, and still stop at once when asked."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from tray_agent.api.thread import ServerThread
from tray_agent.app import App

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")


def _switches(status: Path) -> int:
    with open(status) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches"))


def _wakeups(thread: threading.Thread) -> int:
    return _switches(Path(f"/proc/self/task/{thread.native_id}/status"))


def _process_wakeups(pid: int) -> int:
    """Every thread of a process (threads that stay blocked add nothing)."""
    return sum(_switches(t / "status") for t in Path(f"/proc/{pid}/task").iterdir())


def test_idle_servers_wake_about_once_a_second_keep_the_date_and_stop_at_once(
        make_app: Callable[..., App], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAY_AGENT_SANDBOX_MODE", "auto")  # what a new user runs: the sandbox too
    srv = ServerThread(make_app()).start()
    try:
        auto = srv.runner.sandbox
        assert auto is not None and auto.sandbox.pid is not None, "the sandbox did not start"
        sandbox_pid = auto.sandbox.pid
        time.sleep(1.5)  # start-up work (first sweep, channel checks) done
        before = (_wakeups(srv._thread), _process_wakeups(sandbox_pid))
        time.sleep(4.0)
        per_second = [(_wakeups(srv._thread) - before[0]) / 4.0, (_process_wakeups(sandbox_pid) - before[1]) / 4.0]
        # uvicorn's own loop would wake each ten times a second (the API's thread also looks
        # for other processes' commits once a second).
        assert all(w <= 2.5 for w in per_second), per_second

        r = httpx.get(srv.url + "/api/inbox")  # refused without the token; still dated
        assert r.status_code == 401
        age = (datetime.now(timezone.utc) - parsedate_to_datetime(r.headers["date"])).total_seconds()
        assert -1 <= age <= 2.5  # refreshed while idle, not the start-up time (~5.5 s ago)
    finally:
        t0 = time.monotonic()
        srv.stop()
    assert time.monotonic() - t0 < 0.9  # woken at once, not at the next tick
