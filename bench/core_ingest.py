"""Benchmark: ingest 1,000,000 messages across 100,000 conversations into SQLite through the
service layer's batch path (events and the search index included), then time the inbox's
first page, a conversation's latest 50 messages and a newest-first full-text search.

    python bench/core_ingest.py [--messages 1000000] [--conversations 100000] [--runs 300]

Prints its figures; it is not a timed test. Targets (2 cores): ingest >= 10,000 msg/s;
each query p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._machine import describe, percentiles  # noqa: E402
from tests.support import FakeChannels  # noqa: E402
from tray_agent.app import App  # noqa: E402
from tray_agent.channels import InboundMessage  # noqa: E402
from tray_agent.config import Config  # noqa: E402
from tray_agent.core.clock import FrozenClock  # noqa: E402
from tray_agent.paths import resolve  # noqa: E402
from tray_agent.plugins import PluginHost  # noqa: E402

WORDS = ("order delivery refund parcel invoice account password shipping payment address "
         "thanks hello please when where broken late store open today tomorrow size colour").split()


def build_app(home: Path) -> App:
    host = PluginHost()
    host.register(FakeChannels(), name="fake_channels")
    return App(resolve(home), Config(), clock=FrozenClock(datetime(2026, 1, 1, tzinfo=timezone.utc)),
               plugins=host, load_entry_points=False)


def ingest(app: App, n_messages: int, n_convs: int, batch: int) -> float:
    sms = app.inbox.add_channel("fake-sms", "SMS", "+14155550100")
    rnd = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    numbers = [f"+1415{2000000 + i:07d}" for i in range(n_convs)]
    texts = [" ".join(rnd.choice(WORDS) for _ in range(8)) for _ in range(20_011)]  # made before the clock starts
    t0 = time.perf_counter()
    for base in range(0, n_messages, batch):
        msgs = []
        for i in range(base, min(base + batch, n_messages)):
            msgs.append(InboundMessage(f"SM{i:09d}", numbers[i % n_convs], texts[i % len(texts)],
                                       sent_at=start + timedelta(seconds=i)))
        app.inbox.receive_batch(sms.id, msgs)
    return time.perf_counter() - t0


def timed(fn, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return percentiles(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--home", type=Path, default=None, help="keep the store here (default: a temp dir)")
    a = ap.parse_args()
    home = a.home or Path(tempfile.mkdtemp(prefix="tray-bench-"))
    print(describe())
    app = build_app(home)
    secs = ingest(app, a.messages, a.conversations, a.batch)
    size = app.paths.database.stat().st_size / 1e6
    print(f"ingest: {a.messages:,} messages across {a.conversations:,} conversations in {secs:.1f} s "
          f"= {a.messages / secs:,.0f} messages/s (events and FTS5 index included; store {size:,.0f} MB)")
    me = app.agent.id
    inbox = app.inbox
    app.settle()  # as the daemon and `serve` do once started
    convs = [c.id for c in inbox.list_inbox(me, limit=200).items]
    rnd = random.Random(3)
    p50, p99 = timed(lambda: inbox.list_inbox(me, limit=50), a.runs)
    print(f"inbox first page (50 conversations): p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    p50, p99 = timed(lambda: inbox.history(me, rnd.choice(convs), limit=50), a.runs)
    print(f"conversation's latest 50 messages:  p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    # As typed: the last word is a prefix ("order" also finds "orders"), unless a space ends it.
    for q in ("order ", "order", "ord", "or"):
        hits = len(inbox.search(me, q, limit=50))
        p50, p99 = timed(lambda: inbox.search(me, q, limit=50), a.runs)  # noqa: B023  (run in this iteration)
        print(f"search {q!r:8}, newest 50 of ~{a.messages * 8 // len(WORDS):,} matches ({hits} returned): "
              f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    app.close()


if __name__ == "__main__":
    main()
