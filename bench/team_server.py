"""Benchmark: the team server with two replicas on one PostgreSQL and many light clients.

A throwaway PostgreSQL (the test suite's fixture class) and two `tray-agent server`
replicas run as subprocesses on loopback. This process creates the agents and queues,
signs every agent in over HTTP, spreads them over both replicas as sync clients following
their event stream (SSE), then commits customer messages at a steady rate (through its own store handle,
as a third process would) and measures commit → event delivered to every eligible client.

    python bench/team_server.py [--agents 200] [--queues 30] [--rate 200] [--seconds 60]
                                [--snapshot-conversations 10000]

Prints delivery p50/p99 (target p99 <= 250 ms), the take-over race (50 at once: latency and
winners), the snapshot time of an agent who sees N conversations (target <= 2 s), each
replica's RSS, and the machine. Inbound messages are committed directly, not sent as signed
webhooks (bench/webhook_ingest.py measures that leg).
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
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._machine import describe, percentiles  # noqa: E402


def start_postgres(base: Path):  # type: ignore[no-untyped-def]
    from tests.fixtures.postgres import PostgresServer, find_pg_bindir

    bindir = find_pg_bindir()
    if bindir is None:
        sys.exit("PostgreSQL binaries not found (install postgresql)")
    pg = PostgresServer(bindir=bindir, basedir=base, as_postgres_user=os.geteuid() == 0)
    if pg.as_postgres_user:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
    base.chmod(0o700)
    pg.initdb()
    pg.start()
    return pg, pg.create_database("team_bench")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_replica(home: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRAY_AGENT_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-m", "tray_agent", "server", "--database", url, "--listen",
                             f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/sync/v1/me", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    sys.exit(f"replica {url} did not start")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    return kb / 1024


async def follower(base: str, token: str, cursor: str, seen: dict[str, list[float]], stop: asyncio.Event) -> None:
    """One desktop's event stream (SSE), noting when each inbound message arrives."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=None) as c:
        async with c.stream("GET", "/sync/v1/events", params={"since": cursor}) as r:
            async for line in r.aiter_lines():
                if stop.is_set():
                    return
                if line.startswith("data:"):
                    e = json.loads(line[5:])
                    if e["type"] == "message.created" and e["data"].get("direction") == "in":
                        seen.setdefault(str(e["message_id"]), []).append(time.monotonic())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--queues", type=int, default=30)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--snapshot-conversations", type=int, default=10_000)
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="team-bench-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="team-bench-pg-"))
    pg, url = start_postgres(pg_dir)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        from tray_agent.app import App
        from tray_agent.channels import InboundMessage
        from tray_agent.config import load
        from tray_agent.paths import resolve
        from tray_agent.server.accounts import CONSOLE, Accounts, Actor

        paths = resolve(base / "admin").ensure()
        cfg = load(paths, environ={})
        cfg.database.url = url
        app = App(paths, cfg)
        accounts = Accounts(app.inbox)
        codes = []
        for i in range(args.agents):
            agent, code = accounts.add_agent(Actor(CONSOLE), f"Agent {i}", f"a{i}@bench.example")
            codes.append((agent.id, code))
        queues = [app.inbox.add_queue(f"Queue {q}", [aid for j, (aid, _) in enumerate(codes) if j % args.queues == q])
                  for q in range(args.queues)]
        # One channel per queue, routed to it (a business number per team).
        chans = [app.inbox.add_channel("sms", f"Bench SMS {q.id}", f"+1415555{1000 + i:04d}",
                                       {"account_sid": "AC" + "0" * 32, "api_base": "http://127.0.0.1:9", "poll": "off"},
                                       route_queue_id=q.id) for i, q in enumerate(queues)]

        ports = [free_port(), free_port()]
        procs = [start_replica(base / f"r{i}", url, p) for i, p in enumerate(ports)]
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for u in urls:
            wait_up(u)
        tokens = []
        with httpx.Client(timeout=60) as c:
            for i, (_, code) in enumerate(codes):
                r = c.post(f"{urls[i % 2]}/sync/v1/sign-in", json={"code": code, "device_name": f"bench {i}"})
                tokens.append(r.json()["token"])
            cursor = c.get(f"{urls[0]}/sync/v1/snapshot", params={"limit": 1, "messages": 0},
                           headers={"Authorization": f"Bearer {tokens[0]}"}).json()["cursor"]

        # -- delivery latency ----------------------------------------------------------------
        seen: dict[str, list[float]] = {}
        committed: dict[str, tuple[float, int]] = {}  # message id -> (commit time, eligible clients)

        async def run() -> None:
            stop = asyncio.Event()
            tasks = [asyncio.create_task(follower(urls[i % 2], t, cursor, seen, stop)) for i, t in enumerate(tokens)]
            await asyncio.sleep(2)
            n, t0 = 0, time.monotonic()
            while time.monotonic() - t0 < args.seconds:
                k = n % len(queues)
                mid = await asyncio.to_thread(app.inbox.receive, chans[k].id, InboundMessage(
                    f"b-{n}-{uuid.uuid4().hex[:6]}", f"+1415556{n % 10000:04d}", f"hello {n}"))
                committed[str(mid)] = (time.monotonic(), len(queues[k].member_ids))
                n += 1
                await asyncio.sleep(max(0.0, t0 + n / args.rate - time.monotonic()))
            await asyncio.sleep(5)
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run(run())
        lat = [(t - c0) * 1000 for mid, (c0, _) in committed.items() for t in seen.get(mid, [])]
        expected = sum(k for _, k in committed.values())
        p50, p99 = percentiles(lat) if lat else (float("nan"), float("nan"))
        print(f"delivery: {len(committed)} messages in {args.seconds:.0f} s ({len(committed) / args.seconds:.0f}/s "
              f"asked {args.rate:.0f}/s), {len(lat)}/{expected} deliveries to {args.agents} clients on 2 replicas, "
              f"commit -> delivered p50 {p50:.1f} ms, p99 {p99:.1f} ms")

        # -- take-over race ------------------------------------------------------------------
        q0, racers = queues[0], min(50, len(tokens))
        app.inbox.set_queue_members(q0.id, [aid for aid, _ in codes[:racers]])
        conv = _conv_of(app, app.inbox.receive(chans[0].id, InboundMessage(f"race-{uuid.uuid4().hex}", "+14155557777",
                                                                           "race")))

        async def race() -> tuple[list[int], float]:
            async with httpx.AsyncClient(timeout=60) as c:
                t0 = time.monotonic()
                rs = await asyncio.gather(*[c.post(f"{urls[i % 2]}/sync/v1/conversations/{conv}/claim",
                                                   headers={"Authorization": f"Bearer {tokens[i]}",
                                                            "Idempotency-Key": f"race-{i}"}) for i in range(racers)])
                return [r.status_code for r in rs], (time.monotonic() - t0) * 1000

        statuses, took = asyncio.run(race())
        print(f"take-over race: {racers} claims across 2 replicas in {took:.0f} ms: {statuses.count(200)} winner, "
              f"{statuses.count(409)} told already_taken")

        # -- snapshot ------------------------------------------------------------------------
        # The agent's own queue gets N more conversations (they see them while unassigned).
        viewer = 1
        home_channel = chans[viewer % len(queues)]
        batch = [InboundMessage(f"s-{i}", f"+1{646 + i // 10000}555{i % 10000:04d}", f"old {i}")
                 for i in range(args.snapshot_conversations)]
        for i in range(0, len(batch), 2000):
            app.inbox.receive_batch(home_channel.id, batch[i:i + 2000])
        with httpx.Client(base_url=urls[0], headers={"Authorization": f"Bearer {tokens[viewer]}"}, timeout=120) as c:
            t0, after, total = time.monotonic(), 0, 0
            while True:
                page = c.get("/sync/v1/snapshot", params={"after": after, "limit": 1000, "messages": 20}).json()
                total += len(page["conversations"])
                if page["next_after"] is None:
                    break
                after = page["next_after"]
            took = time.monotonic() - t0
        print(f"snapshot: {total} conversations (with their newest messages) in {took:.2f} s, pages of 1000")
        print("RSS per replica: " + ", ".join(f"{rss_mb(p.pid):.0f} MB" for p in procs))
        print(describe())
        app.close()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)


def _conv_of(app, message_id: int) -> int:  # type: ignore[no-untyped-def]
    from tray_agent.core.models import Message

    with app.db.read() as s:
        return s.get(Message, message_id).conversation_id  # type: ignore[no-any-return,union-attr]


if __name__ == "__main__":
    main()
