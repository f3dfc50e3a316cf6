"""Benchmark: a team-mode desktop against a real team server (PostgreSQL, one replica as a
subprocess).

    python bench/team_desktop.py [--conversations 10000] [--messages 20] [--samples 200]
                                 [--only cold-sync] [--profile FILE]

Prints: the cold sync of an agent who sees N conversations with M messages each into an
empty cache, by the daemon's own sync task with its local API up (time to the first page,
to the window's inbox list answered after it, and to all; target <= 10 s for 10,000 /
200,000), with the CPU the desktop, the replica and PostgreSQL spent on it (``--profile``:
the sync under cProfile instead, no local API); a customer message committed on the server ->
the local event on the desktop's own event stream, and the tray badge's count after it, p50/p99;
the idle RSS and CPU of the team-mode daemon (`tray-agent serve`, window closed) next to
the single-desktop daemon's; and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._machine import describe, percentiles  # noqa: E402
from bench._team import desktop_app, load_average, team_server  # noqa: E402
from bench.team_server import rss_mb  # noqa: E402
from tests.team.seed import seed  # noqa: E402  (needs the checkout)


def cold_sync(app) -> tuple[float, float, float, int, int, dict[str, float]]:  # type: ignore[no-untyped-def]
    """The daemon's own cold sync (the runner's sync task, the local API up): time to the
    first page in the cache, to the window's inbox list answered after it, and to all; and
    the CPU seconds the cache's writes and the pages' fetching took."""
    from sqlalchemy import func, select

    from tray_agent.api.thread import ServerThread
    from tray_agent.core.models import Conversation, Message
    from tray_agent.team.sync import SyncTask

    write_page, fetch_page, cpu = SyncTask._write_page, SyncTask._page, {"writing": 0.0, "fetching": 0.0}

    def timed(what, fn):  # type: ignore[no-untyped-def]
        def run(*a):  # type: ignore[no-untyped-def]
            c0 = time.thread_time()
            try:
                return fn(*a)
            finally:
                cpu[what] += time.thread_time() - c0
        return run

    # The CPU of the writer thread's writes, and of fetching (HTTP and JSON), for the split.
    SyncTask._write_page = timed("writing", write_page)  # type: ignore[method-assign]
    SyncTask._page = timed("fetching", fetch_page)  # type: ignore[method-assign]
    t0 = time.monotonic()
    thread = ServerThread(app).start()
    try:
        assert thread.runner.team is not None, "the desktop is not in team mode"
        task = thread.runner.team.sync
        if not task.first_page.wait(600):
            sys.exit("no first page in 600 s")
        first = time.monotonic() - t0
        with httpx.Client(base_url=thread.url, headers={"Authorization": f"Bearer {thread.token}"}, timeout=60) as c:
            listed = c.get("/api/inbox", params={"limit": 50})
            listed.raise_for_status()
            usable = time.monotonic() - t0
            if not listed.json()["items"]:
                sys.exit("the inbox list was empty after the first page")
        if not task.synced.wait(600):
            sys.exit("the cold sync did not end in 600 s")
        total = time.monotonic() - t0
    finally:
        thread.stop()
        SyncTask._write_page, SyncTask._page = write_page, fetch_page  # type: ignore[method-assign]
    with app.db.read() as s:
        n_conv = s.execute(select(func.count()).select_from(Conversation)).scalar_one()
        n_msg = s.execute(select(func.count()).select_from(Message)).scalar_one()
    return first, usable, total, n_conv, n_msg, cpu


def profile_cold_sync(app, out: str) -> None:  # type: ignore[no-untyped-def]
    """The snapshot's pages fetched in this thread and written in the sync's writer thread,
    each under its own cProfile (merged), with no local API."""
    import cProfile
    import pstats

    from tray_agent.team.sync import SyncTask

    task = SyncTask(app.inbox, app.inbox.link)
    fetching, writing = cProfile.Profile(), cProfile.Profile()
    write_page = task._write_page
    task._write_page = lambda *a: writing.runcall(write_page, *a)  # type: ignore[method-assign]
    t0 = time.monotonic()
    fetching.runcall(task.resync)
    print(f"profiled cold sync in {time.monotonic() - t0:.2f} s; profile in {out}")
    stats = pstats.Stats(fetching).add(writing)
    stats.dump_stats(out)
    stats.sort_stats("tottime").print_stats(30)


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
    ap.add_argument("--only", choices=("all", "cold-sync"), default="all")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the cold sync in-process instead (implies cold-sync)")
    args = ap.parse_args()

    with team_server("team-desktop-bench") as team:
        t0 = time.monotonic()
        seed(team.server_app.db, team.channel_id, team.queue_id, args.conversations, args.messages)
        print(f"seeded {args.conversations} conversations x {args.messages} messages on the server in "
              f"{time.monotonic() - t0:.0f} s", flush=True)
        app = desktop_app(team.base / "desktop", team.url, team.token, team.me)
        if args.profile:
            profile_cold_sync(app, args.profile)
            app.close()
            return
        cpu0, (replica0, pg0) = time.process_time(), team.server_cpu()
        first, usable, total, n_conv, n_msg, split = cold_sync(app)
        replica1, pg1 = team.server_cpu()
        print(f"cold sync: {n_conv} conversations, {n_msg} messages into an empty cache: first page in {first:.2f} s, "
              f"inbox list answered at {usable:.2f} s, all in {total:.2f} s (target <= 10 s); CPU: desktop "
              f"{time.process_time() - cpu0:.1f} s (writing the cache {split['writing']:.1f} s, fetching and parsing "
              f"{split['fetching']:.1f} s), replica {replica1 - replica0:.1f} s, PostgreSQL {pg1 - pg0:.1f} s; "
              f"{load_average()}", flush=True)
        if args.only == "cold-sync":
            app.close()
            print(describe())
            return
        events, badges = latency(app, team.server_app, team.channel_id, args.samples)
        e50, e99 = percentiles(events)
        b50, b99 = percentiles(badges)
        print(f"customer message on the server -> local event on the desktop: p50 {e50:.1f} ms, p99 {e99:.1f} ms; "
              f"-> tray badge count read: p50 {b50:.1f} ms, p99 {b99:.1f} ms ({args.samples} samples); "
              f"{load_average()}", flush=True)
        app.close()

        from tray_agent.credentials import env_name
        from tray_agent.paths import resolve
        from tray_agent.team.link import token_key

        single = team.base / "single"
        resolve(single).ensure()
        s_rss, s_cpu = idle_daemon(single, {"TRAY_AGENT_SANDBOX_MODE": "off"}, args.idle_seconds)
        team_home = team.base / "desktop"
        key = token_key(resolve(team_home).config)
        t_rss, t_cpu = idle_daemon(team_home, {env_name(*key): team.token}, args.idle_seconds)
        print(f"idle daemon, window closed ({args.idle_seconds:.0f} s): team mode {t_rss:.0f} MB RSS, {t_cpu:.2f} % CPU "
              f"(cache of {n_conv} conversations); single-desktop {s_rss:.0f} MB RSS, {s_cpu:.2f} % CPU (empty store); "
              f"{load_average()}")
        print(describe())


if __name__ == "__main__":
    main()
