"""Threads, file descriptors and connections of the real ``tray-agent`` daemon (out of the
box: the provider sandbox in its own process, signed webhooks) do not grow with the number
of messages it handles, nor with how many requests arrive at once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.desktop.conftest import Daemon, daemon_env
from tray_agent.api.server import API_THREADS, BACKGROUND_THREADS
from tray_agent.core.db import Database
from tray_agent.sandbox.client import SandboxAdmin

pytestmark = pytest.mark.desktop
CLIENTS = 24  # customers and agent tools at once: more than any of the daemon's pools
_pool = Database("sqlite:///pool-size-only.sqlite3").engine.pool  # the store's (SQLAlchemy's QueuePool)
POOL_MAX = _pool.size() + _pool._max_overflow  # type: ignore[attr-defined]  # connections open at most at once


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


def _fds(pid: int) -> Counter[str]:
    """What the open descriptors point at: files by name, sockets, pipes, anon inodes."""
    out: Counter[str] = Counter()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed while we looked
            continue
        out[target.split(":")[0] if ":" in target and not target.startswith("/") else Path(target).name] += 1
    return out


class Peak:
    """The most threads the daemon had while a round ran (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.value, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.value = max(self.value, _threads(self.pid))

    def __enter__(self) -> "Peak":
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()


def _round(d: Daemon, admin_url: str, messages: int, clients: int, offset: int) -> None:
    """``clients`` customers and agent tools at once: each customer writes (a signed webhook
    from the sandbox), the agent opens the conversation, replies (a send) and lists the inbox."""
    headers = {"Authorization": f"Bearer {d.token}"}

    def one(i: int) -> None:
        admin = SandboxAdmin(admin_url)
        try:
            n = offset + i
            who = f"+1415{5550000 + n % 97:07d}"[:12]
            admin.customer_sends("sms" if n % 2 else "whatsapp", who, f"Order question {n}")
            # A connection per request: reusing one races uvicorn's keep-alive timeout on
            # a loaded machine ("Server disconnected without sending a response").
            with httpx.Client(base_url=d.url, headers=headers, timeout=60,
                              limits=httpx.Limits(max_keepalive_connections=0)) as api:
                conv = api.get("/api/inbox", params={"limit": 5}).json()["items"][0]
                api.get(f"/api/conversations/{conv['id']}").raise_for_status()
                api.post(f"/api/conversations/{conv['id']}/messages", json={"text": f"Thanks {n}"}).raise_for_status()
                api.get("/api/search", params={"q": "order"}).raise_for_status()
        finally:
            admin.close()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(messages)))


def _tcp(pid: int) -> Counter[str]:
    """The daemon's TCP sockets by state and local/remote port (for the failure message)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out: Counter[str] = Counter()
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            f = row.split()
            if f[9] in inodes:
                out[f"{f[3]} {int(f[1].rsplit(':')[1], 16)}->{int(f[2].rsplit(':')[1], 16)}"] += 1
    return out


def _settled(pid: int) -> Counter[str]:
    """Descriptors once the round's sends are done and idle keep-alive connections closed
    (uvicorn ends them after 5 s, as do the provider clients' pools)."""
    deadline = time.monotonic() + 40
    fds = _fds(pid)
    while True:
        time.sleep(6.0)
        now = _fds(pid)
        if time.monotonic() > deadline or now == fds:
            return now
        fds = now


def test_threads_and_descriptors_do_not_grow_with_messages_or_concurrent_requests(
        desktop_env, start_daemon, scratch) -> None:
    # `tray-agent` as a user starts it: every installed plugin, the sandbox in its own process.
    env = daemon_env(desktop_env, scratch / "home", TRAY_AGENT_SANDBOX_MODE="auto", TRAY_AGENT_LOAD_PLUGINS=None)
    d = start_daemon(env, home=scratch / "home", cli=True)
    pid = d.proc.pid
    chans = [c for c in d.api("GET", "/api/channels") if c["settings"].get("source") == "sandbox"]
    assert chans, d.log()[-2000:]
    admin_url = chans[0]["settings"]["api_base"]
    time.sleep(3)  # start-up work (health checks, the first sweeps) done
    idle_threads = _threads(pid)

    with Peak(pid) as warm:
        _round(d, admin_url, 48, CLIENTS, 0)  # warm-up: every route, send path and pool filled once
    fds_warm = _settled(pid)
    tcp_warm = _tcp(pid)
    with Peak(pid) as busy:
        _round(d, admin_url, 192, CLIENTS, 1000)  # four times the messages
    fds_busy = _settled(pid)
    tcp_busy = _tcp(pid)

    names = Counter(d.status().get("threads", []))
    report = (f"threads: idle {idle_threads}, peak {warm.value} (48 messages) → {busy.value} (192 messages), "
              f"{CLIENTS} clients at once; fds {sum(fds_warm.values())} → {sum(fds_busy.values())} "
              f"(grown: {dict(fds_busy - fds_warm)}; TCP (state local->remote port) {dict(tcp_warm)} → "
              f"{dict(tcp_busy)}); threads by name {dict(names)}")
    print(report)
    # The pools are bounded: anyio's for the API's blocking work, the loop's for background
    # work; 24 clients at once do not make 24 threads.
    assert max(warm.value, busy.value) <= idle_threads + API_THREADS + BACKGROUND_THREADS, report
    assert busy.value <= warm.value + 1, report
    # Nothing held per message: sockets, pipes and files come back to the same; the store's
    # connections (a database and a WAL descriptor each) are bounded by its pool.
    store = ("tray-agent.sqlite3", "tray-agent.sqlite3-wal")
    assert not Counter({k: n for k, n in (fds_busy - fds_warm).items() if k not in store}), report
    assert all(fds_busy[k] <= POOL_MAX for k in store), report
    assert sum(n for name, n in names.items() if name.startswith("AnyIO worker")) <= API_THREADS, report
    assert sum(n for name, n in names.items() if name.startswith(("background", "asyncio"))) <= BACKGROUND_THREADS, \
        report
