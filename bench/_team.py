"""A team server for the desktop benchmarks: a throwaway PostgreSQL, one agent with a queue and
an SMS channel routed to it, one replica as a subprocess, the agent signed in; and a team-mode
desktop App on an empty cache. Shared by bench/team_desktop.py and bench/team_notify.py."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.team_clients import cpu_seconds
from bench.team_server import cpu_of, free_port, postgres_pids, start_postgres, start_replica, stop_all, wait_up


@dataclass
class TeamBench:
    base: Path  # a scratch folder, deleted at the end
    server_app: Any  # the service layer on the server's database (tray_agent.app.App)
    channel_id: int
    queue_id: int
    url: str  # the replica's
    token: str  # the agent's device token
    me: dict[str, Any]  # the signed-in agent, as the sign-in answered
    replica_pid: int
    pg_datadir: Path

    def server_cpu(self) -> tuple[float, float]:
        """CPU seconds so far of the replica and of PostgreSQL (postmaster and backends)."""
        return cpu_seconds(self.replica_pid), cpu_of(postgres_pids(self.pg_datadir))


@contextmanager
def team_server(prefix: str) -> Iterator[TeamBench]:
    """Everything started, then stopped and deleted however the benchmark ends."""
    base = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    pg_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-pg-"))
    pg, db_url = start_postgres(pg_dir)
    proc: subprocess.Popen[bytes] | None = None
    server_app = None
    try:
        from tray_agent.app import App
        from tray_agent.config import load
        from tray_agent.paths import resolve
        from tray_agent.server.accounts import CONSOLE, Accounts, Actor

        paths = resolve(base / "admin").ensure()
        cfg = load(paths, environ={})
        cfg.database.url = db_url
        server_app = App(paths, cfg)
        agent, code = Accounts(server_app.inbox).add_agent(Actor(CONSOLE), "Bench Agent", "bench@bench.example")
        queue = server_app.inbox.add_queue("Bench", [agent.id])
        chan = server_app.inbox.add_channel("sms", "Bench SMS", "+14155550000",
                                            {"account_sid": "AC" + "0" * 32, "api_base": "http://127.0.0.1:9",
                                             "poll": "off"}, route_queue_id=queue.id)
        port = free_port()
        proc = start_replica(base / "replica", db_url, port, {})
        url = f"http://127.0.0.1:{port}"
        wait_up(url)
        signed = httpx.post(f"{url}/sync/v1/sign-in", json={"code": code, "device_name": "bench"}, timeout=60).json()
        yield TeamBench(base, server_app, chan.id, queue.id, url, signed["token"], signed["agent"], proc.pid, pg.datadir)
    finally:
        if server_app is not None:
            server_app.close()
        stop_all([proc] if proc is not None else [], pg, base, pg_dir)


def desktop_app(home: Path, server: str, token: str, agent: dict[str, Any]) -> Any:
    """An App in team mode on an empty cache, signed in as ``agent`` (the token in memory)."""
    from tray_agent import credentials
    from tray_agent.app import App
    from tray_agent.config import load
    from tray_agent.core.mirror_models import TeamState
    from tray_agent.core.models import Agent
    from tray_agent.paths import resolve
    from tray_agent.team.link import token_key

    paths = resolve(home).ensure()
    cfg = load(paths, environ={})
    cfg.team.server = server
    cfg.save()
    credentials.hold(*token_key(paths.config), token)
    app = App(paths, load(paths, environ={}))
    with app.db.write() as s:
        s.add(Agent(id=agent["id"], name=agent["name"], email=agent["email"], settings={}))
        s.add(TeamState(id=1, server=server, agent_id=agent["id"], cursor=""))
    return app


def load_average() -> str:
    return "load average " + " / ".join(f"{x:.2f}" for x in os.getloadavg())
