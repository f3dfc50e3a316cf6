"""How the chat window feels on a big inbox, measured in headless Chromium.

Seeds (once; cached under /tmp) a SQLite store with 100,000 conversations and 1,000,000
messages, one conversation holding 10,000 of them, then serves it with the real API and
web UI and times:

* first inbox paint: navigation start → the first page of rows painted;
* opening the 10,000-message conversation: hash change → its newest page painted;
* an inbound message → on screen: ``inbox.receive`` in the API server's process (what a
  webhook does) → the message painted in the open conversation, over 60 trials.

Targets: ≤ 500 ms, ≤ 300 ms, ≤ 150 ms p99. Run: ``python bench/window_perf.py``
(``--conversations/--messages`` for a smaller run, ``--reseed`` to rebuild the cache).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tray_agent.api.security import window_url  # noqa: E402
from tray_agent.api.thread import ServerThread  # noqa: E402
from tray_agent.app import App  # noqa: E402
from tray_agent.channels import ChannelType, Health, InboundMessage, SendResult  # noqa: E402
from tray_agent.config import load  # noqa: E402
from tray_agent.core.rules import ChannelRules  # noqa: E402
from tray_agent.hookspecs import hookimpl  # noqa: E402
from tray_agent.paths import resolve  # noqa: E402
from tray_agent.plugins import PluginHost  # noqa: E402

CHROMIUM = os.environ.get("TRAY_AGENT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2a7"/></svg>'
BATCH = 5000
BIG = 10_000


class _Adapter:
    def __init__(self, cfg, ctx) -> None:  # type: ignore[no-untyped-def]
        self.n = 0

    async def send(self, message):  # type: ignore[no-untyped-def]
        self.n += 1
        return SendResult(f"bench-{self.n}")

    def webhook_routes(self) -> list:  # type: ignore[type-arg]
        return []

    async def poll(self) -> None:
        return None

    async def check_health(self) -> Health:
        return Health(True)

    async def aclose(self) -> None:
        return None


class BenchChannel:
    @hookimpl
    def register_channel_types(self, register):  # type: ignore[no-untyped-def]
        register(ChannelType(name="bench-sms", label="SMS", icon_svg=ICON, factory=_Adapter,
                             rules=ChannelRules(business_can_start=True)))


def build_app(home: Path) -> App:
    paths = resolve(home).ensure()
    cfg = load(paths, environ={})
    cfg.sandbox.mode = "off"
    host = PluginHost()
    host.register(BenchChannel(), name="bench_channel")
    return App(paths, cfg, plugins=host, load_entry_points=False)


def seed(app: App, conversations: int, messages: int) -> dict[str, int]:
    """``conversations`` customers, ``messages`` messages, the first customer with BIG of
    them; oldest first, so the store grows the way a real one does."""
    inbox = app.inbox
    ch = inbox.add_channel("bench-sms", "Bench SMS", "+14155550100")
    now = datetime.now(timezone.utc)
    rest = messages - BIG
    per = rest / (conversations - 1)
    plan: list[tuple[int, int]] = [(0, BIG)]  # (customer index, message count)
    given = 0
    for i in range(1, conversations):
        n = int(per * i) - int(per * (i - 1))
        plan.append((i, n))
        given += n
    plan[-1] = (plan[-1][0], plan[-1][1] + rest - given)
    span = timedelta(days=30)
    t0 = time.perf_counter()
    batch: list[InboundMessage] = []
    done = 0
    for order, (i, n) in enumerate(plan):
        address = f"+1415{2000000 + i:07d}"
        base = now - span + span * (order / len(plan))
        for k in range(n):
            batch.append(InboundMessage(f"seed-{i}-{k}", address, f"Message {k} from customer {i}: where is order {i * 7 + k}?",
                                        customer_name=f"Customer {i}", sent_at=base + timedelta(seconds=k)))
            if len(batch) == BATCH:
                done += inbox.receive_batch(ch.id, batch)
                batch = []
                if done % 100_000 == 0:
                    print(f"  seeded {done:,} messages in {time.perf_counter() - t0:.0f} s", flush=True)
    if batch:
        done += inbox.receive_batch(ch.id, batch)
    big = inbox.list_inbox(app.agent.id, "all", limit=1, cursor=None)  # touch the agent, warm up
    with app.db.read() as s:
        from sqlalchemy import select

        from tray_agent.core.models import Conversation

        big_id = s.execute(select(Conversation.id).where(Conversation.customer_address == "+14152000000")).scalar_one()
    del big
    return {"channel_id": ch.id, "big_conversation_id": big_id, "messages": done,
            "seconds": round(time.perf_counter() - t0)}


def seeded_home(conversations: int, messages: int, reseed: bool) -> tuple[Path, dict[str, int]]:
    cache = Path(tempfile.gettempdir()) / f"tray-agent-bench-{conversations}c-{messages}m"
    marker = cache / "seeded.json"
    if marker.exists() and not reseed:
        return cache, json.loads(marker.read_text())
    shutil.rmtree(cache, ignore_errors=True)
    print(f"seeding {conversations:,} conversations / {messages:,} messages into {cache} (cached for next runs)",
          flush=True)
    app = build_app(cache)
    try:
        info = seed(app, conversations, messages)
    finally:
        app.close()
    with sqlite3.connect(resolve(cache).database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    marker.write_text(json.dumps(info))
    return cache, info


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


WAIT_MARK = """([name, after]) => new Promise(resolve => {
  const found = () => performance.getEntriesByName(name).find(e => e.startTime > after);
  const hit = found();
  if (hit) return resolve(hit.startTime);
  new PerformanceObserver((list, obs) => {
    const e = list.getEntriesByName(name).find(e => e.startTime > after);
    if (e) { obs.disconnect(); resolve(e.startTime); }
  }).observe({ type: "mark", buffered: true });
})"""

OPEN = """async (id) => {
  const t0 = performance.now();
  location.hash = `#/conversation/${id}`;
  const painted = await (%s)(["tray:conversation-painted", t0]);
  return painted - t0;
}""" % WAIT_MARK  # noqa: UP031  (JavaScript: braces everywhere, one %s)

# Arms a watcher (without waiting): when the text is in the history, the next frame's time
# (wall clock, comparable with Python's time.time()) lands in window.__shownAt.
WATCH = """(text) => {
  window.__shownAt = 0;
  const seen = () => [...document.querySelectorAll('#history-items .text')].some(e => e.textContent === text);
  const obs = new MutationObserver(() => {
    if (seen()) { obs.disconnect(); requestAnimationFrame(() => { window.__shownAt = Date.now(); }); }
  });
  obs.observe(document.querySelector('#history-items'), { childList: true, subtree: true });
}"""


def measure(app: App, info: dict[str, int]) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    big = info["big_conversation_id"]
    out: dict[str, list[float]] = {"paint": [], "open": [], "inbound": []}  # + *_cold: the very first
    with ServerThread(app) as srv, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(tempfile.mkdtemp(prefix="bench-chromium-"),
                                                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                                    viewport={"width": 420, "height": 640})
        page = ctx.new_page()
        page.goto(window_url(srv.url, srv.token) + "#/")  # sets the cookie
        page.wait_for_selector("#inbox-list .row")
        for _ in range(12):
            page.goto("about:blank")  # a real load each time, not a same-document hash change
            page.goto(f"{srv.url}/#/")
            out["paint"].append(page.evaluate(WAIT_MARK, ["tray:inbox-painted", 0]))
        out["paint_cold"], out["paint"] = out["paint"][:1], out["paint"][2:]  # first loads warm the caches
        for _ in range(22):
            page.evaluate("() => { location.hash = '#/' }")
            page.wait_for_function("() => !document.body.classList.contains('show-conv')")
            out["open"].append(page.evaluate(OPEN, big))
        out["open_cold"], out["open"] = out["open"][:1], out["open"][2:]
        # Inbound latency: a customer writes into the open conversation.
        target = app.inbox.list_inbox(app.agent.id, "all", limit=1).items[0]
        page.evaluate("id => { location.hash = `#/conversation/${id}` }", target.id)
        page.wait_for_selector("#history-items .item")
        time.sleep(0.5)
        from itertools import count

        ids = count()
        for i in range(65):
            text = f"latency trial {i} {time.time()}"
            page.evaluate(WATCH, text)
            t0 = time.time()
            app.inbox.receive(info["channel_id"], InboundMessage(f"trial-{next(ids)}-{t0}", target.customer_address, text))
            shown = page.wait_for_function("() => window.__shownAt", polling="raf").json_value()
            out["inbound"].append(shown - t0 * 1000)
            time.sleep(0.15)
        out["inbound"] = out["inbound"][5:]
        ctx.close()
    return out


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    return (f"machine: {os.cpu_count()} CPUs (nproc), {cpu}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--reseed", action="store_true")
    args = ap.parse_args()
    home, info = seeded_home(args.conversations, args.messages, args.reseed)
    app = build_app(home)
    try:
        size = resolve(home).database.stat().st_size / 1e6
        print(machine())
        print(f"store: {args.conversations:,} conversations, {info['messages']:,} messages "
              f"(SQLite {size:,.0f} MB; seeded in {info['seconds']} s, cached at {home})")
        r = measure(app, info)
    finally:
        app.close()

    def line(name: str, values: list[float], target: float, key: str) -> str:
        worst = pct(values, 99) if key == "p99" else max(values)
        ok = "ok" if worst <= target else "MISSED"
        return (f"{name:<44} p50 {statistics.median(values):6.1f} ms   p99 {pct(values, 99):6.1f} ms   "
                f"max {max(values):6.1f} ms   (n={len(values)}, target ≤ {target:.0f} ms {key}: {ok})")

    print(line("first inbox paint (navigation → rows)", r["paint"], 500, "max")
          + f"   cold first load {r['paint_cold'][0]:.1f} ms")
    print(line(f"open a {BIG:,}-message conversation", r["open"], 300, "max")
          + f"   cold first open {r['open_cold'][0]:.1f} ms")
    print(line("inbound message → on screen", r["inbound"], 150, "p99"))


if __name__ == "__main__":
    main()
