"""A compressed day at the desk: the real ``tray-agent`` daemon out of the box (provider
sandbox in its own process) on a private Xvfb desktop, fed customer messages in bursts
across many conversations, with replies, files, searches and the window opened and closed.
Samples the daemon every ``--interval`` s (RSS, PSS, CPU, threads, open fds, database size)
and prints the figures at the start, after warm-up and at the end, with growth per hour.

    /work/main/.venv/bin/python bench/soak.py [--minutes 30] [--messages 20000]

``--heap-trace 1000,4000`` runs the daemon with tracemalloc on (``TRAY_AGENT_HEAP_TRACE``,
slower: a diagnosis, not a figure), snapshots it at those message counts and prints what
grew between the first and the last: bytes by allocation site, objects, threads and fds.
``--heap-counts 300`` takes the counts alone (malloc in use and kept free, SQLite's memory,
objects, threads, fds) without tracing, so the daemon runs at its own pace.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.daemon_footprint import TICKS, TRAY_AGENT, fresh_home, machine, proc_stat, start, stop  # noqa: E402
from tests.desktop.conftest import close_window, window_toplevel  # noqa: E402
from tests.desktop.procs import alive, descendants  # noqa: E402
from tests.fixtures.desktop import _start_desktop  # noqa: E402


@dataclass
class Sample:
    t: float
    rss: float
    anon: float  # RssAnon: the heap (Python objects, SQLite's page caches, malloc's arenas)
    file: float  # RssFile: mapped libraries and files, shared with other processes
    pss: float
    cpu_pct: float
    threads: float
    fds: int
    db_mb: float
    sandbox_rss: float
    messages: int


class HeapTrace:
    """Snapshots the daemon at given message counts (tray_agent/desktop/heap_trace.py)."""

    def __init__(self, folder: Path, at: list[int], *, trace: bool = True) -> None:
        self.folder, self.todo, self.trace = folder, sorted(at), trace
        self.taken: list[str] = []

    def poll(self, sent: int) -> None:
        while self.todo and sent >= self.todo[0]:
            self.take(f"at-{self.todo.pop(0)}")

    def take(self, name: str) -> None:
        (self.folder / f"{name}.request").write_text("" if self.trace else "counts")
        deadline = time.monotonic() + 120
        while not (self.folder / f"{name}.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.taken.append(name)

    def last(self, sent: int) -> None:
        """At the end of the day: one more snapshot, so there are two to compare."""
        if not self.taken or self.taken[-1] != f"at-{sent}":
            self.take(f"at-{sent}")

    def report(self, top: int = 25) -> None:
        import json
        import tracemalloc

        if len(self.taken) < 2:
            print(f"heap trace: {len(self.taken)} snapshot(s), need two")
            return
        a, b = self.taken[0], self.taken[-1]
        ca, cb = (json.loads((self.folder / f"{n}.json").read_text()) for n in (a, b))
        print("\n== counts at each snapshot: malloc in use / free but kept / SQLite in use, MB ==")
        for name in self.taken:
            native = json.loads((self.folder / f"{name}.json").read_text())["native_mb"]
            print(f"{name:>10}: " + " / ".join(f"{native.get(k, 0):6.2f}" for k in
                                             ("malloc_in_use", "malloc_free_kept", "sqlite_in_use")))
        print(f"\n== counts {a} → {b} ==")
        for key in cb["native_mb"]:
            print(f"{key}: {ca['native_mb'].get(key, 0):.2f} → {cb['native_mb'][key]:.2f} MB")
        print(f"threads {len(ca['threads'])} → {len(cb['threads'])}, fds {ca['fds']} → {cb['fds']}, "
              f"sockets {ca['sockets']} → {cb['sockets']}")
        grew = sorted(((cb["objects"].get(k, 0) - ca["objects"].get(k, 0), k) for k in cb["objects"]), reverse=True)
        print("objects that grew: " + ", ".join(f"{k} {d:+d}" for d, k in grew[:12] if d > 0))
        if not self.trace:
            return
        first = tracemalloc.Snapshot.load(str(self.folder / f"{a}.snapshot"))
        last = tracemalloc.Snapshot.load(str(self.folder / f"{b}.snapshot"))
        total = sum(s.size for s in last.statistics("filename")) - sum(s.size for s in first.statistics("filename"))
        print(f"\n== heap trace {a} → {b}: traced Python heap {total / 2**20:+.2f} MB ==")
        for stat in last.compare_to(first, "traceback")[:top]:
            frames = [f"{f.filename.split('site-packages/')[-1].split('tray_agent/')[-1]}:{f.lineno}"
                      for f in stat.traceback[:6]]
            print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  " + " < ".join(frames))


class Day:
    """The workload: customers write in bursts; the agent replies, attaches, searches and
    opens the window now and then — all through the HTTP surfaces a user's tools use."""

    def __init__(self, api, admin, desktop, args) -> None:  # type: ignore[no-untyped-def]
        self.api, self.admin, self.desktop, self.args = api, admin, desktop, args
        self.rng = random.Random(16)
        self.sent = self.replies = self.files = self.searches = self.windows = self.errors = 0
        self.first_error = ""
        self.stop = threading.Event()

    def customer(self, n: int) -> tuple[str, str]:
        return ("sms" if n % 2 else "whatsapp"), f"+1415{5550000 + n:07d}"[:12]

    def run(self, seconds: float) -> None:
        per_burst = 20
        bursts = max(1, self.args.messages // per_burst)
        window_every = bursts / max(1, self.args.windows)
        t0 = time.monotonic()
        for b in range(bursts):
            if self.stop.is_set():
                return
            for _ in range(per_burst):
                kind, who = self.customer(self.rng.randrange(self.args.conversations))
                files = [("note.txt", "text/plain", os.urandom(2048))] if self.rng.random() < 0.05 else []
                try:
                    self.admin.customer_sends(kind, who, f"Order question {self.sent}", files=files)
                    self.sent += 1
                    self.files += bool(files)
                except Exception as exc:  # counted and printed: the day goes on
                    self.failed(exc)
            self.agent_turn()
            if b % max(1, int(window_every)) == 0 and self.windows < self.args.windows:
                self.window()
            # Spread the bursts over the day; a late run catches up instead of sleeping.
            due = t0 + seconds * (b + 1) / bursts
            self.stop.wait(max(0.0, due - time.monotonic()))

    def failed(self, exc: Exception) -> None:
        self.errors += 1
        self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"[:200]

    def agent_turn(self) -> None:
        try:
            page = self.api.get("/api/inbox", params={"limit": 10}).json()["items"]
            for conv in page[:3]:
                body: dict = {"text": "Thanks, looking into it."}
                if self.rng.random() < 0.1:
                    up = self.api.post("/api/uploads", params={"conversation_id": conv["id"]}, content=b"x" * 4096,
                                       headers={"X-File-Name": "receipt.txt", "Content-Type": "text/plain"})
                    body["uploads"] = [up.json()["upload_id"]]
                    self.files += 1
                self.api.post(f"/api/conversations/{conv['id']}/messages", json=body).raise_for_status()
                self.replies += 1
            if self.rng.random() < 0.3:
                self.api.get("/api/search", params={"q": "order"}).raise_for_status()
                self.searches += 1
        except Exception as exc:
            self.failed(exc)

    def window(self) -> None:
        try:
            self.api.post("/api/desktop/open", json={}).raise_for_status()
            wid = window_toplevel(self.desktop)
            self.stop.wait(4)
            close_window(self.desktop, wid)
            deadline = time.monotonic() + 15
            while self.api.get("/api/desktop/status").json()["window"]["open"] and time.monotonic() < deadline:
                time.sleep(0.2)
            self.windows += 1
        except Exception as exc:
            self.failed(exc)


def sample(pid: int, home: Path, sandbox_pid: int | None, last: tuple[float, float],
           sent: int) -> tuple[Sample, tuple[float, float]]:
    st = proc_stat(pid)
    now = time.monotonic()
    cpu = 100 * (st["cpu_ticks"] - last[1]) / TICKS / max(1e-6, now - last[0])
    db = sum(f.stat().st_size for f in (home / "data").glob("*.sqlite3*")) / 2**20
    sb = proc_stat(sandbox_pid)["VmRSS"] / 1024 if sandbox_pid and alive(sandbox_pid) else 0.0
    s = Sample(now, st["VmRSS"] / 1024, st["RssAnon"] / 1024, st["RssFile"] / 1024, st.get("Pss", 0) / 1024, cpu, st["Threads"],
               len(os.listdir(f"/proc/{pid}/fd")), db, sb, sent)
    return s, (now, st["cpu_ticks"])


def slope_per_hour(samples: list[Sample], key: str) -> float:
    """Least-squares growth of ``key`` per hour over ``samples``."""
    if len(samples) < 2:
        return 0.0
    xs = [s.t for s in samples]
    ys = [getattr(s, key) for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return 3600 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def line(label: str, s: Sample) -> str:
    return (f"{label:>16}: RSS {s.rss:6.1f} MB (anon {s.anon:5.1f} + file {s.file:4.1f}), PSS {s.pss:6.1f} MB, "
            f"CPU {s.cpu_pct:5.2f} %, threads {s.threads:.0f}, "
            f"fds {s.fds}, database {s.db_mb:6.1f} MB, sandbox process RSS {s.sandbox_rss:5.1f} MB, "
            f"{s.messages} messages")


def main() -> None:
    import httpx

    from tray_agent.sandbox.client import SandboxAdmin

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="length of the compressed day")
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--conversations", type=int, default=2_000)
    ap.add_argument("--windows", type=int, default=50, help="times the window is opened and closed")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--heap-trace", default="", metavar="N,M",
                    help="trace the daemon's heap and diff snapshots at these message counts (slow)")
    ap.add_argument("--heap-counts", default="", metavar="N,M",
                    help="the daemon's malloc, SQLite, object, thread and fd counts at these message counts")
    ap.add_argument("--idle", type=float, default=45.0,  # past the daemon's idle release (RELEASE_AFTER, 30 s)
                    help="quiet seconds measured after the day")
    args = ap.parse_args()
    seconds = args.minutes * 60
    warmup = seconds / 5

    print(f"Tray Agent soak — {time.strftime('%Y-%m-%d %H:%M')}: {args.minutes:g} min, {args.messages:,} messages "
          f"across {args.conversations:,} conversations, window ×{args.windows}")
    print(f"machine: {machine()}")
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="tray-agent-soak-") as tmp:
        root = Path(tmp)
        (root / "desktop").mkdir()
        desktop = _start_desktop(stack, root / "desktop")
        home = fresh_home(root, "day")
        extra = {"TRAY_AGENT_SANDBOX_MODE": "auto"}
        trace = None
        if args.heap_trace or args.heap_counts:
            trace = HeapTrace(root / "heap", [int(n) for n in (args.heap_trace or args.heap_counts).split(",")],
                              trace=bool(args.heap_trace))
            extra["TRAY_AGENT_HEAP_TRACE"] = str(trace.folder)
        proc, ready, info = start(desktop, home, [TRAY_AGENT], root / "daemon.log", extra)
        try:
            token = (home / "config" / "api-token").read_text().strip()
            api = stack.enter_context(httpx.Client(base_url=info["url"], timeout=60,
                                                   headers={"Authorization": f"Bearer {token}"}))
            chans = [c for c in api.get("/api/channels").json() if c["settings"].get("source") == "sandbox"]
            admin = SandboxAdmin(chans[0]["settings"]["api_base"])
            sandbox_pid = next((p for p in descendants(proc.pid) if p != proc.pid and
                                b"tray_agent.sandbox.process" in Path(f"/proc/{p}/cmdline").read_bytes()), None)
            time.sleep(10)  # start-up work (health checks, the first sweeps) done
            samples: list[Sample] = []
            last = (time.monotonic(), proc_stat(proc.pid)["cpu_ticks"])
            day = Day(api, admin, desktop, args)
            worker = threading.Thread(target=day.run, args=(seconds,), daemon=True)
            s, last = sample(proc.pid, home, sandbox_pid, last, 0)
            samples.append(s)
            t0 = s.t
            worker.start()
            while worker.is_alive() and time.monotonic() - t0 < seconds * 1.5:
                worker.join(args.interval)
                s, last = sample(proc.pid, home, sandbox_pid, last, day.sent)
                samples.append(s)
                if trace is not None:
                    trace.poll(day.sent)
            day.stop.set()
            worker.join(60)
            if trace is not None:
                trace.last(day.sent)
            time.sleep(args.idle)  # the daemon trims its heap after a quiet spell
            idle, last = sample(proc.pid, home, sandbox_pid, last, day.sent)
            if trace is not None:
                trace.take("idle")  # what stays after the idle release
            after = [x for x in samples if x.t - t0 >= warmup]
            warm = after[0] if after else samples[-1]
            print(f"ready in {ready:.2f} s; day lasted {(samples[-1].t - t0) / 60:.1f} min, {len(samples)} samples; "
                  f"{day.sent} customer messages, {day.replies} replies, {day.files} files, {day.searches} searches, "
                  f"window opened/closed {day.windows}×, {day.errors} errors"
                  + (f" (first: {day.first_error})" if day.first_error else ""))
            print(line("start", samples[0]))
            print(line("after warm-up", warm))
            print(line("end of the day", samples[-1]))
            print(line(f"idle {args.idle:.0f} s later", idle))
            for key, unit in (("rss", "MB"), ("anon", "MB"), ("file", "MB"), ("pss", "MB"), ("threads", ""),
                              ("fds", ""), ("db_mb", "MB")):
                print(f"growth after warm-up, {key}: {slope_per_hour(after, key):+.2f} {unit}/h".rstrip())
            print("targets: idle fresh ≤ 100 MB RSS; after the soak ≤ 110 MB; growth after warm-up ≤ 2 MB/h; "
                  "idle CPU ≤ 0.5 %; no fd or thread growth")
            if trace is not None:
                trace.report()
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
