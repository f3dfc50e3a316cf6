"""Benchmark: the team server's snapshot and its replica's log tail, in-process on a real
PostgreSQL (no HTTP, no replica processes), so the service layer's share is measured apart
from the transport and the machine's other load shows in CPU time rather than wall time.

    python bench/team_snapshot.py [--conversations 10000] [--page 1000] [--profile N]

Seeds one queue's agent with N conversations (one message each, as the webhook bench's
snapshot step does), then prints: every page of that agent's snapshot as the route serves it, cold and warm
(wall and this process's CPU, the JSON's size); the memory a tail of 20,000 events takes as
the replica keeps it; with --profile, the N costliest functions of each pass; the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._machine import describe  # noqa: E402
from bench.team_clients import ACCOUNT_SID, load  # noqa: E402
from bench.team_server import admin_app, analyze, start_postgres  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=10_000)
    ap.add_argument("--page", type=int, default=1000)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest functions")
    args = ap.parse_args()
    os.environ.setdefault("TRAY_AGENT_LOAD_PLUGINS", "twilio")
    base, pg_dir = Path(tempfile.mkdtemp(prefix="snap-bench-")), Path(tempfile.mkdtemp(prefix="snap-bench-pg-"))
    pg, url = start_postgres(pg_dir)
    try:
        from tray_agent.channels import InboundMessage
        from tray_agent.server.accounts import CONSOLE, Actor
        from tray_agent.server.tail import KEEP

        app, accounts = admin_app(base, url)
        ids = [accounts.add_agent(Actor(CONSOLE), f"Agent {i}", f"a{i}@bench.example")[0].id
               for i in range(args.agents)]
        queue = app.inbox.add_queue("Queue", ids[:10])
        ch = app.inbox.add_channel("sms", "Bench SMS", "+14155551000",
                                   {"account_sid": ACCOUNT_SID, "api_base": "http://127.0.0.1:9", "poll": "off"},
                                   route_queue_id=queue.id)
        batch = [InboundMessage(f"s-{i}", f"+1{646 + i // 10000}555{i % 10000:04d}", f"old {i}")
                 for i in range(args.conversations)]
        for i in range(0, len(batch), 2000):
            app.inbox.receive_batch(ch.id, batch[i:i + 2000])
        analyze(app)

        def snapshot() -> tuple[int, int, int]:
            """The pages as the route serves them (on PostgreSQL, JSON that the database builds)."""
            after, pages, total, size = 0, 0, 0, 0
            while True:
                _, body = app.inbox.snapshot_json(ids[1], after=after, limit=args.page, messages=20)
                page = json.loads(body)
                size += len(body)
                pages, total = pages + 1, total + len(page["conversations"])
                if page["next_after"] is None:
                    return pages, total, size
                after = page["next_after"]

        for attempt in ("cold", "warm"):
            prof = cProfile.Profile() if args.profile else None
            t, cpu = time.perf_counter(), time.process_time()
            if prof:
                prof.enable()
            pages, total, size = snapshot()
            if prof:
                prof.disable()
            print(f"snapshot in-process ({attempt}): {total} conversations in {pages} pages of {args.page} "
                  f"({size / 1e6:.1f} MB of JSON) in {time.perf_counter() - t:.2f} s, CPU "
                  f"{time.process_time() - cpu:.2f} s (parsing the JSON too){' under cProfile' if prof else ''}; "
                  f"{load()}", flush=True)
            if prof:
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.profile)
                print(out.getvalue())

        gc.collect()
        before = rss_mb()
        tracemalloc.start()
        rows, _ = app.inbox.events_tail(0, KEEP)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(f"log tail: {len(rows)} events kept as {type(rows[0]).__name__} take {held / 1e6:.1f} MB "
              f"({held / max(1, len(rows)):.0f} B/event), RSS +{rss_mb() - before:.0f} MB; {load()}")
        print(describe())
        app.close()
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
