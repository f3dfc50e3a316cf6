"""Benchmark: a team-mode desktop against a real team server (PostgreSQL, one replica as a
subprocess).

    python bench/team_desktop.py [--conversations 10000] [--messages 20] [--samples 200]

Prints: the cold sync of an agent who sees N conversations with M messages each into an
empty cache (time to the first page — the window is usable then — and in total; target
<= 10 s for 10,000 / 200,000); a customer message committed on the server -> the local
event on the desktop's own event stream, and the tray badge's count after it, p50/p99;
the idle RSS and CPU of the team-mode daemon (`tray-agent serve`, window closed) next to
the single-desktop daemon's; and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._machine import describe, percentiles  # noqa: E402
from bench.team_server import free_port, rss_mb, start_postgres, start_replica, wait_up  # noqa: E402


def seed(app, channel_id: int, queue_id: int, conversations: int, messages: int) -> None:  # type: ignore[no-untyped-def]
    """N open conversations of the queue with M inbound messages each, written in bulk by SQL
    (what the server holds matters here, not how it got there: bench/core_ingest.py
    measures ingest)."""
    from sqlalchemy import text

    t0 = time.monotonic()
    with app.db.write() as s:
        s.execute(text("""INSERT INTO conversation (channel_id, customer_address, status, archived, queue_id,
                          started_by, created_at, last_activity_at, last_inbound_at, last_message_preview,
                          last_message_direction)
                          SELECT :ch, '+1646' || lpad(g::text, 7, '0'), 'open', false, :q, 'customer',
                                 now() - interval '1 hour', now() - (g || ' seconds')::interval,
                                 now() - (g || ' seconds')::interval, 'message', 'in'
                          FROM generate_series(1, :n) g"""), {"ch": channel_id, "q": queue_id, "n": conversations})
        s.execute(text("""INSERT INTO message (conversation_id, channel_id, direction, kind, text, created_at, meta,
                          rule_refused)
                          SELECT c.id, :ch, 'in', 'text', 'message ' || r || ' about order ' || c.id,
                                 now() - interval '1 hour' + (r || ' seconds')::interval, '{}', false
                          FROM conversation c, generate_series(1, :m) r WHERE c.channel_id = :ch
                          ORDER BY c.id, r"""), {"ch": channel_id, "m": messages})
        s.execute(text("""UPDATE conversation c SET last_message_id = x.mx, last_inbound_message_id = x.mx
                          FROM (SELECT conversation_id, max(id) mx FROM message GROUP BY conversation_id) x
                          WHERE x.conversation_id = c.id"""))
    print(f"seeded {conversations} conversations x {messages} messages on the server in {time.monotonic() - t0:.0f} s")


def desktop_app(home: Path, server: str, token: str, agent: dict):  # type: ignore[no-untyped-def]
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


def cold_sync(app) -> tuple[float, float, int, int]:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from tray_agent.core.models import Conversation, Message
    from tray_agent.team.sync import SyncTask

    task = SyncTask(app.inbox, app.inbox.link)
    first: list[float] = []
    threading.Thread(target=lambda: first.append(time.monotonic()) if task.first_page.wait(600) else None,
                     daemon=True).start()
    t0 = time.monotonic()
    task.resync()
    total = time.monotonic() - t0
    with app.db.read() as s:
        n_conv = s.execute(select(func.count()).select_from(Conversation)).scalar_one()
        n_msg = s.execute(select(func.count()).select_from(Message)).scalar_one()
    return (first[0] - t0) if first else float("nan"), total, n_conv, n_msg


def latency(app, server_app, channel_id: int, samples: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Server commit -> the desktop's local event (on its /api/events/stream), and -> the
    tray badge's unread count having moved."""
    from tray_agent.api.thread import ServerThread
    from tray_agent.channels import InboundMessage

    thread = ServerThread(app).start()
    events: list[float] = []
    badges: list[float] = []
    try:
        with httpx.Client(base_url=thread.url, headers={"Authorization": f"Bearer {thread.token}"}, timeout=30) as c:
            deadline = time.monotonic() + 60
            while c.get("/api/connection").json()["state"] != "online":
                if time.monotonic() > deadline:
                    sys.exit("the desktop did not come online")
                time.sleep(0.1)
            after = c.get("/api/session").json()["last_seq"]

            async def follow(got: asyncio.Queue) -> None:  # type: ignore[type-arg]
                async with httpx.AsyncClient(base_url=thread.url, timeout=None,
                                             headers={"Authorization": f"Bearer {thread.token}"}) as ac:
                    async with ac.stream("GET", "/api/events/stream", params={"after": after}) as r:
                        async for line in r.aiter_lines():
                            if line.startswith("data:"):
                                e = json.loads(line[5:])
                                if e.get("type") == "message.created" and e.get("data", {}).get("direction") == "in":
                                    await got.put((time.monotonic(), e))

            async def run() -> None:
                got: asyncio.Queue = asyncio.Queue()  # type: ignore[type-arg]
                follower = asyncio.create_task(follow(got))
                await asyncio.sleep(1)
                for n in range(samples):
                    t0 = time.monotonic()
                    await asyncio.to_thread(server_app.inbox.receive, channel_id, InboundMessage(
                        f"lat-{n}-{uuid.uuid4().hex[:6]}", f"+1212555{n % 10000:04d}", f"new {n}"))
                    at, _ = await asyncio.wait_for(got.get(), 30)
                    events.append((at - t0) * 1000)
                    count = (await asyncio.to_thread(c.get, "/api/inbox/unread")).json()
                    badges.append((time.monotonic() - t0) * 1000)
                    assert count
                    await asyncio.sleep(0.05)
                follower.cancel()

            asyncio.run(run())
    finally:
        thread.stop()
    return events, badges


def idle_daemon(home: Path, env: dict[str, str], seconds: float) -> tuple[float, float]:
    """`tray-agent serve` on ``home``: RSS (MB) after it settled, CPU % of a core while idle."""
    proc = subprocess.Popen([sys.executable, "-m", "tray_agent", "serve"], env={**os.environ, **env,
                            "TRAY_AGENT_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(15)  # start-up, first sync pass
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu() -> float:
            with open(f"/proc/{proc.pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            return (int(parts[11]) + int(parts[12])) / ticks

        c0, t0 = cpu(), time.monotonic()
        time.sleep(seconds)
        return rss_mb(proc.pid), 100 * (cpu() - c0) / (time.monotonic() - t0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--idle-seconds", type=float, default=30.0)
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="team-desktop-bench-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="team-desktop-bench-pg-"))
    pg, url = start_postgres(pg_dir)
    proc = None
    try:
        from tray_agent.app import App
        from tray_agent.config import load
        from tray_agent.paths import resolve
        from tray_agent.server.accounts import CONSOLE, Accounts, Actor
        from tray_agent.team.link import token_key
        from tray_agent.credentials import env_name

        paths = resolve(base / "admin").ensure()
        cfg = load(paths, environ={})
        cfg.database.url = url
        server_app = App(paths, cfg)
        accounts = Accounts(server_app.inbox)
        agent, code = accounts.add_agent(Actor(CONSOLE), "Bench Agent", "bench@bench.example")
        queue = server_app.inbox.add_queue("Bench", [agent.id])
        chan = server_app.inbox.add_channel("sms", "Bench SMS", "+14155550000",
                                            {"account_sid": "AC" + "0" * 32, "api_base": "http://127.0.0.1:9",
                                             "poll": "off"}, route_queue_id=queue.id)
        seed(server_app, chan.id, queue.id, args.conversations, args.messages)
        port = free_port()
        proc = start_replica(base / "replica", url, port)
        server = f"http://127.0.0.1:{port}"
        wait_up(server)
        signed = httpx.post(f"{server}/sync/v1/sign-in", json={"code": code, "device_name": "bench"}, timeout=60).json()
        token, me = signed["token"], signed["agent"]

        app = desktop_app(base / "desktop", server, token, me)
        first, total, n_conv, n_msg = cold_sync(app)
        print(f"cold sync: {n_conv} conversations, {n_msg} messages into an empty cache: first page in {first:.2f} s, "
              f"all in {total:.2f} s (target <= 10 s)")
        events, badges = latency(app, server_app, chan.id, args.samples)
        e50, e99 = percentiles(events)
        b50, b99 = percentiles(badges)
        print(f"customer message on the server -> local event on the desktop: p50 {e50:.1f} ms, p99 {e99:.1f} ms; "
              f"-> tray badge count read: p50 {b50:.1f} ms, p99 {b99:.1f} ms ({args.samples} samples)")
        app.close()

        single = base / "single"
        resolve(single).ensure()
        s_rss, s_cpu = idle_daemon(single, {"TRAY_AGENT_SANDBOX_MODE": "off"}, args.idle_seconds)
        team_home = base / "desktop"
        key = token_key(resolve(team_home).config)
        t_rss, t_cpu = idle_daemon(team_home, {env_name(*key): token}, args.idle_seconds)
        print(f"idle daemon, window closed ({args.idle_seconds:.0f} s): team mode {t_rss:.0f} MB RSS, {t_cpu:.2f} % CPU "
              f"(cache of {n_conv} conversations); single-desktop {s_rss:.0f} MB RSS, {s_cpu:.2f} % CPU (empty store)")
        print(describe())
        server_app.close()
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
