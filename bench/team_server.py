"""Benchmark: the team server with two replicas on one PostgreSQL, many light desktops, and
Twilio posting signed inbound webhooks at a steady rate.

A throwaway PostgreSQL (the test suite's fixture class) and two `tray-agent server` replica
processes run on loopback. This process creates the agents, queues and channels (one SMS
channel per queue, routed to it), signs every agent in over HTTP and follows each agent's
event stream (SSE, alternating replicas). A separate process plays Twilio: signed form
posts, as Twilio sends them, to the replicas' webhook URLs (alternating) at --rate for
--seconds, over keep-alive connections. Measured: webhook sent -> acknowledged (after the
commit) -> the message's event delivered to every member of its queue.

    python bench/team_server.py [--agents 200] [--queues 30] [--rate 200] [--seconds 60]
                                [--racers 50] [--snapshot-conversations 10000] [--py-spy DIR]
                                [--client httpx|raw] [--customers 1000] [--snapshot-only]

Prints (each line with the load average): delivery p50/p99 (target: every eligible client
has it within p99 <= 250 ms), deliveries counted/expected, the achieved rate and each
process's CPU per message; the take-over race (latency, winners); the snapshot of an agent
who sees N conversations (target <= 2 s); each replica's RSS; the machine. Scale down with
smaller --agents/--rate/--seconds/--snapshot-conversations while developing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._machine import describe, percentiles  # noqa: E402
from bench.team_clients import TOKEN, ACCOUNT_SID, Arrivals, Plan, cpu_seconds, follow, load, send_webhooks  # noqa: E402

if TYPE_CHECKING:
    from tests.fixtures.postgres import PostgresServer


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


def admin_app(base: Path, url: str):  # type: ignore[no-untyped-def]
    """The service layer on the bench's database, as the server's console uses it."""
    from tray_agent.app import App
    from tray_agent.config import load as load_config
    from tray_agent.paths import resolve
    from tray_agent.server.accounts import Accounts

    paths = resolve(base / "admin").ensure()
    cfg = load_config(paths, environ={})
    cfg.database.url = url
    app = App(paths, cfg)
    return app, Accounts(app.inbox)


def analyze(app) -> None:  # type: ignore[no-untyped-def]
    """Planner statistics for the tables just filled, as autovacuum gathers them within a
    minute of such a burst: without them PostgreSQL plans 10,000 rows as a dozen."""
    with app.db.engine.connect() as c:
        c.exec_driver_sql("ANALYZE")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_all(procs: list[subprocess.Popen[bytes]], pg: "PostgresServer", *dirs: Path) -> None:
    """The replicas (SIGTERM, then kill after 20 s), PostgreSQL, and their folders."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
    pg.stop()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def start_replica(home: Path, url: str, port: int, secrets: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, **secrets, "TRAY_AGENT_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path),
           "TRAY_AGENT_LOAD_PLUGINS": "twilio", "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    return subprocess.Popen([sys.executable, "-m", "tray_agent", "server", "--database", url, "--listen",
                             f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL,
                            stderr=(home.parent / f"{home.name}.log").open("wb"))  # never a pipe nobody reads


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


def postgres_pids(datadir: Path) -> list[int]:
    """The postmaster and its backends (by parent), for their CPU time."""
    master = int((datadir / "postmaster.pid").read_text().split()[0])
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        kids.append(int(d))
            except OSError:
                pass
    return [master, *kids]


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for p in pids:
        try:
            total += cpu_seconds(p)
        except OSError:
            pass  # a backend that ended
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--queues", type=int, default=30)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--customers", type=int, default=1000, help="distinct senders per channel")
    ap.add_argument("--racers", type=int, default=50)
    ap.add_argument("--client", choices=("httpx", "raw"), default="httpx",
                    help="the webhook sender's HTTP client (raw: pre-built requests on keep-alive sockets)")
    ap.add_argument("--snapshot-conversations", type=int, default=10_000)
    ap.add_argument("--py-spy", metavar="DIR",
                    help="record each replica with py-spy during the webhooks, and replica 1 during the snapshot")
    ap.add_argument("--py-spy-gil", action="store_true",
                    help="sample only the thread holding the GIL (where the replicas' Python CPU goes)")
    ap.add_argument("--snapshot-only", action="store_true", help="skip the webhooks and the race: the snapshot alone")
    ap.add_argument("--timeline", type=float, metavar="SECONDS",
                    help="also print acknowledgement and delivery p50/p99 per slice of this many seconds of sending")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="team-bench-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="team-bench-pg-"))
    pg, url = start_postgres(pg_dir)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        from tray_agent.channels import InboundMessage
        from tray_agent.credentials import env_name
        from tray_agent.server.accounts import CONSOLE, Actor

        app, accounts = admin_app(base, url)
        codes = []
        for i in range(args.agents):
            agent, code = accounts.add_agent(Actor(CONSOLE), f"Agent {i}", f"a{i}@bench.example")
            codes.append((agent.id, code))
        # Agent i is a member of queue i % queues; one SMS channel (a business number) per queue.
        members = [[j for j in range(args.agents) if j % args.queues == q] for q in range(args.queues)]
        queues = [app.inbox.add_queue(f"Queue {q}", [codes[j][0] for j in members[q]]) for q in range(args.queues)]
        chans = [app.inbox.add_channel("sms", f"Bench SMS {i}", f"+1415555{1000 + i:04d}",
                                       {"account_sid": ACCOUNT_SID, "api_base": "http://127.0.0.1:9", "poll": "off"},
                                       route_queue_id=q.id) for i, q in enumerate(queues)]
        secrets = {env_name(c.name, "auth_token"): TOKEN for c in chans}

        ports = [free_port(), free_port()]
        procs = [start_replica(base / f"r{i}", url, p, secrets) for i, p in enumerate(ports)]
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
        print(f"set-up: {args.agents} agents signed in across 2 replicas, {args.queues} queues and channels; {load()}",
              flush=True)

        if not args.snapshot_only:
            deliver(args, app, urls, tokens, cursor, chans, members, procs, pg.datadir)
            race(args, app, urls, tokens, codes, queues, chans)
        snapshot(args, app, urls, tokens, chans, InboundMessage, procs[0].pid, postgres_pids(pg.datadir))
        print("RSS per replica: " + ", ".join(f"{rss_mb(p.pid):.0f} MB" for p in procs) + f"; {load()}")
        print(describe())
        app.close()
    finally:
        for i in range(len(procs)):
            log = (base / f"r{i}.log").read_text(errors="replace").strip().splitlines()[-5:]
            if log:
                print(f"replica {i + 1} logged (last lines):\n  " + "\n  ".join(log))
        stop_all(procs, pg, base, pg_dir)


def deliver(args, app, urls, tokens, cursor, chans, members, procs, pg_datadir) -> None:  # type: ignore[no-untyped-def]
    """Signed webhooks from another process; every client's stream timed."""
    from tray_agent.core.models import Message
    from sqlmodel import col, select

    out = tempfile.mktemp(prefix="team-bench-sent-", suffix=".json")
    plan = Plan(urls=urls, channels=[(c.id, c.business_address) for c in chans], rate=args.rate,
                seconds=args.seconds, customers=args.customers, out=out, client=args.client)
    arrivals = Arrivals()
    spies: list[subprocess.Popen[bytes]] = []

    async def run() -> dict[str, float]:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(follow(urls[i % 2], t, cursor, i, arrivals, stop)) for i, t in enumerate(tokens)]
        while arrivals.connected < len(tokens) and not arrivals.errors:
            await asyncio.sleep(0.1)
        if arrivals.errors:
            sys.exit(f"a client could not follow its events: {arrivals.errors[0]}")
        await asyncio.sleep(1)
        sender = multiprocessing.get_context("spawn").Process(target=send_webhooks, args=(plan,), name="twilio")
        pids = {"replica 1": [procs[0].pid], "replica 2": [procs[1].pid], "postgres": postgres_pids(pg_datadir),
                "clients (this process)": [os.getpid()]}
        before = {k: cpu_of(v) for k, v in pids.items()}
        sender.start()
        if args.py_spy:
            Path(args.py_spy).mkdir(parents=True, exist_ok=True)
            spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            rate = "250" if args.py_spy_gil else "50"
            spies.extend(subprocess.Popen([spy, "record", "--pid", str(p.pid), "--rate", rate, "--format", "raw",
                                           "--duration", str(int(args.seconds)), "--nonblocking",
                                           *(["--gil"] if args.py_spy_gil else []), "-o",
                                           f"{args.py_spy}/replica{i + 1}.txt"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL) for i, p in enumerate(procs))
        await asyncio.to_thread(sender.join)
        await asyncio.sleep(5)  # the last deliveries
        pids["postgres"] = postgres_pids(pg_datadir)
        used = {k: cpu_of(v) - before[k] for k, v in pids.items()}
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return used

    used = asyncio.run(run())
    for s in spies:
        s.wait()
    with open(out) as f:
        sent = json.load(f)
    os.unlink(out)
    rows = sent["rows"]
    used["webhook sender"] = sent["cpu"]
    acked = {r[0]: r for r in rows if r[4] == 200}
    refused = Counter(r[4] for r in rows if r[4] != 200)
    with app.db.read() as s:
        sids = dict(s.execute(select(col(Message.id), col(Message.provider_message_id)).where(
            col(Message.provider_message_id).like(f"{plan.prefix}%"))).all())
    by_msg: dict[str, dict[int, float]] = {}
    stray = 0
    for mid, client, t in arrivals.got:
        sid = sids.get(mid)
        if sid is None:
            continue
        i = int(sid[len(plan.prefix):])
        if client in members[i % len(chans)]:
            by_msg.setdefault(sid, {}).setdefault(client, t)
        else:
            stray += 1
    ack_ms = [(r[3] - r[2]) * 1000 for r in acked.values()]
    lag_ms = [(r[2] - r[1]) * 1000 for r in rows]
    each_ms: list[float] = []
    all_ms: list[float] = []
    slices: dict[int, tuple[list[float], list[float]]] = {}  # slice -> (acknowledged ms, delivered-to-all ms)
    expected = complete = 0
    for sid, r in acked.items():
        eligible = members[int(sid[len(plan.prefix):]) % len(chans)]
        expected += len(eligible)
        got = by_msg.get(sid, {})
        each_ms.extend((t - r[2]) * 1000 for t in got.values())
        k = int((r[2] - sent["t0"]) // args.timeline) if args.timeline else 0
        slices.setdefault(k, ([], []))[0].append((r[3] - r[2]) * 1000)
        if len(got) == len(eligible):
            complete += 1
            all_ms.append((max(got.values()) - r[2]) * 1000)
            slices[k][1].append(all_ms[-1])
    span = sent["t_end"] - sent["t0"]
    p = lambda xs: "p50 {:.1f} ms, p99 {:.1f} ms".format(*percentiles(xs)) if xs else "none"  # noqa: E731
    print(f"webhooks ({args.client}): {len(rows)} sent to 2 replicas at {len(rows) / args.seconds:.0f}/s "
          f"asked {args.rate:.0f}/s, "
          f"{len(acked)} acknowledged (200), {len(sids)} stored"
          + (f" (not acknowledged, by status: {dict(refused)})" if refused else "") + ","
          f" all answered in {span:.1f} s "
          f"({len(acked) / span:.0f}/s); sent -> acknowledged {p(ack_ms)}; sender lag p99 "
          f"{percentiles(lag_ms)[1]:.1f} ms; {load()}")
    print(f"delivery: {sum(len(g) for g in by_msg.values())}/{expected} deliveries to {len(tokens)} clients "
          f"({stray} to ineligible clients, {arrivals.reconnects} reconnects); sent -> delivered (each) {p(each_ms)}; "
          f"sent -> delivered to every eligible client ({complete}/{len(acked)} messages) {p(all_ms)} "
          f"(target p99 <= 250 ms); {load()}")
    n = max(1, len(acked))
    print("CPU during the webhooks: " + ", ".join(f"{k} {v:.1f} s ({v / n * 1000:.2f} ms/message)"
                                                  for k, v in used.items())
          + f"; {os.cpu_count()} cores x {span:.0f} s = {os.cpu_count() * span:.0f} core-s; {load()}", flush=True)
    if args.timeline:
        for k in sorted(slices):
            acks, alls = slices[k]
            print(f"  {k * args.timeline:6.1f} s: {len(acks)} sent, acknowledged {p(acks)}; delivered to all {p(alls)}")
    if args.py_spy:
        print(f"py-spy: {args.py_spy}/replica1.txt, replica2.txt (collapsed stacks)")


def race(args, app, urls, tokens, codes, queues, chans) -> None:  # type: ignore[no-untyped-def]
    from tray_agent.channels import InboundMessage
    from tray_agent.core.models import Message

    racers = min(args.racers, len(tokens))
    app.inbox.set_queue_members(queues[0].id, [aid for aid, _ in codes[:racers]])
    mid = app.inbox.receive(chans[0].id, InboundMessage(f"race-{uuid.uuid4().hex}", "+14155557777", "race"))
    with app.db.read() as s:
        conv = s.get(Message, mid).conversation_id

    async def claims() -> tuple[list[int], list[float], float]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=racers)) as c:
            async def one(i: int) -> tuple[int, float]:
                t = time.monotonic()
                r = await c.post(f"{urls[i % 2]}/sync/v1/conversations/{conv}/claim",
                                 headers={"Authorization": f"Bearer {tokens[i]}", "Idempotency-Key": f"race-{i}"})
                return r.status_code, (time.monotonic() - t) * 1000

            t0 = time.monotonic()
            got = await asyncio.gather(*[one(i) for i in range(racers)])
            return [g[0] for g in got], [g[1] for g in got], (time.monotonic() - t0) * 1000

    statuses, each, took = asyncio.run(claims())
    print(f"take-over race: {racers} claims at once across 2 replicas in {took:.0f} ms (each p50 "
          f"{percentiles(each)[0]:.0f} ms, max {max(each):.0f} ms): {statuses.count(200)} winner, "
          f"{statuses.count(409)} told already_taken, {racers - statuses.count(200) - statuses.count(409)} other; "
          f"{load()}", flush=True)


def snapshot(args, app, urls, tokens, chans, InboundMessage, replica: int, pg: list[int]) -> None:  # type: ignore[no-untyped-def]
    # Agent 1's queue gets N more conversations (they see them while unassigned), each
    # from a distinct customer.
    viewer = 1
    home = chans[viewer % len(chans)]
    batch = [InboundMessage(f"s-{i}", f"+1{646 + i // 10000}555{i % 10000:04d}", f"old {i}")
             for i in range(args.snapshot_conversations)]
    for i in range(0, len(batch), 2000):
        app.inbox.receive_batch(home.id, batch[i:i + 2000])
    analyze(app)
    spy = None
    if args.py_spy:
        Path(args.py_spy).mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")), "record",
                                "--pid", str(replica), "--rate", "200", "--format", "raw", "--nonblocking",
                                "-o", f"{args.py_spy}/snapshot.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
    for attempt in ("cold", "warm"):
        cpu0, pg0 = cpu_seconds(replica), cpu_of(pg)
        with httpx.Client(base_url=urls[0], headers={"Authorization": f"Bearer {tokens[viewer]}"}, timeout=120) as c:
            t0, after, total, first = time.monotonic(), 0, 0, 0.0
            while True:
                page = c.get("/sync/v1/snapshot", params={"after": after, "limit": 1000, "messages": 20}).json()
                first = first or time.monotonic() - t0
                total += len(page["conversations"])
                if page["next_after"] is None:
                    break
                after = page["next_after"]
            took = time.monotonic() - t0
        print(f"snapshot ({attempt}): {total} conversations (with their newest messages) in {took:.2f} s, pages of "
              f"1000 (first page {first * 1000:.0f} ms; target <= 2 s); the replica's CPU "
              f"{cpu_seconds(replica) - cpu0:.2f} s, PostgreSQL's {cpu_of(pg) - pg0:.2f} s; {load()}", flush=True)
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        spy.wait(30)
        print(f"py-spy: {args.py_spy}/snapshot.txt (replica 1 during both snapshots, collapsed stacks)")


if __name__ == "__main__":
    main()
