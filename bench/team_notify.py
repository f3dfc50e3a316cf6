"""Customer message on the team server -> ``Notify`` on the desktop's session bus, p50/p99
(issue 13's target: p99 <= 300 ms). A real PostgreSQL, one server replica (its own process),
a team-mode desktop (its cache, sync and notification engine, in this process) and a private
desktop session (Xvfb, D-Bus, dbus-monitor, dunst: the test suite's own fixture code).

    /work/main/.venv/bin/python bench/team_notify.py [--samples 60]

Each sample is one customer message committed on the server (``inbox.receive``, as a webhook
would), timed until dbus-monitor sees the Notify call carrying its text; one per quiet spell,
since a burst's later messages are coalesced into one summary.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from bench._machine import describe, percentiles  # noqa: E402
from bench.team_desktop import desktop_app  # noqa: E402
from bench.team_server import free_port, start_postgres, start_replica, wait_up  # noqa: E402
from tests.fixtures.desktop import _start_desktop  # noqa: E402  (needs the checkout)

COALESCE_SECONDS = 3.1  # past the engine's coalescing window: each probe pops up on its own


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=60)
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="team-notify-bench-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="team-notify-bench-pg-"))
    pg, url = start_postgres(pg_dir)
    proc = None
    try:
        with ExitStack() as stack:
            (base / "session").mkdir()
            desktop = _start_desktop(stack, base / "session")
            # The desktop's notifier talks to this private bus (plyer reads it when it connects).
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = desktop.env["DBUS_SESSION_BUS_ADDRESS"]
            os.environ["DISPLAY"] = desktop.env["DISPLAY"]

            from tray_agent.api.thread import ServerThread
            from tray_agent.app import App
            from tray_agent.channels import InboundMessage
            from tray_agent.config import load
            from tray_agent.desktop.notification_engine import Notifications
            from tray_agent.paths import resolve
            from tray_agent.server.accounts import CONSOLE, Accounts, Actor

            paths = resolve(base / "admin").ensure()
            cfg = load(paths, environ={})
            cfg.database.url = url
            server_app = App(paths, cfg)
            agent, code = Accounts(server_app.inbox).add_agent(Actor(CONSOLE), "Bench Agent", "bench@bench.example")
            queue = server_app.inbox.add_queue("Bench", [agent.id])
            chan = server_app.inbox.add_channel("sms", "Bench SMS", "+14155550000",
                                                {"account_sid": "AC" + "0" * 32, "api_base": "http://127.0.0.1:9",
                                                 "poll": "off"}, route_queue_id=queue.id)
            port = free_port()
            proc = start_replica(base / "replica", url, port)
            server = f"http://127.0.0.1:{port}"
            wait_up(server)
            signed = httpx.post(f"{server}/sync/v1/sign-in", json={"code": code, "device_name": "bench"},
                                timeout=60).json()
            app = desktop_app(base / "desktop", server, signed["token"], signed["agent"])
            thread = ServerThread(app).start()  # the team runner: snapshot, then the event stream
            engine = Notifications(app, signed["agent"]["id"], app.notifiers,
                                   state_path=base / "notify-state.json")
            engine.start()
            try:
                with httpx.Client(base_url=thread.url, headers={"Authorization": f"Bearer {thread.token}"},
                                  timeout=30) as c:
                    deadline = time.monotonic() + 60
                    while c.get("/api/connection").json()["state"] != "online":
                        if time.monotonic() > deadline:
                            sys.exit("the desktop did not come online")
                        time.sleep(0.1)
                engine.ready.wait(10)
                time.sleep(1.0)
                lat = []
                for n in range(args.samples):
                    before = len(desktop.notifications())
                    text = f"notify probe {n} {uuid.uuid4().hex[:6]}"
                    t0 = time.time()
                    server_app.inbox.receive(chan.id, InboundMessage(f"np-{n}-{uuid.uuid4().hex[:6]}",
                                                                     f"+1212556{n % 10000:04d}", text))
                    got = desktop.wait_for_notification(lambda x: x.body == text, since=before,  # noqa: B023
                                                        timeout=30)
                    lat.append((got.time - t0) * 1000)
                    time.sleep(COALESCE_SECONDS)
            finally:
                engine.stop()
                thread.stop()
                app.close()
            p50, p99 = percentiles(lat)
            print(f"customer message committed on the server -> Notify on the desktop's session bus: "
                  f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(lat):.0f} ms ({len(lat)} samples; target p99 <= 300 ms)")
            print(describe() + "; load average " + " / ".join(f"{x:.2f}" for x in os.getloadavg()))
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
