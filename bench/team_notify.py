"""Customer message on the team server -> ``Notify`` on the desktop's session bus, p50/p99
(issue 13's target: p99 <= 300 ms). A real PostgreSQL, one server replica (its own process),
a team-mode desktop (its cache, sync and notification engine, in this process) and a private
desktop session (Xvfb, D-Bus, dbus-monitor, dunst: the test suite's own fixture code).

    /work/main/.venv/bin/python bench/team_notify.py [--samples 60] [--trace]

Each sample is one customer message committed on the server (``inbox.receive``, as a webhook
would), timed until dbus-monitor sees the Notify call carrying its text; one per quiet spell,
since a burst's later messages are coalesced into one summary. ``--trace`` also prints where
the time goes, stage by stage (bench/_notify_trace.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from bench._machine import describe, percentiles  # noqa: E402
from bench._team import desktop_app, load_average, team_server  # noqa: E402
from tests.fixtures.desktop import _start_desktop  # noqa: E402  (needs the checkout)

COALESCE_SECONDS = 3.1  # past the engine's coalescing window: each probe pops up on its own


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--trace", action="store_true", help="also print each stage's share (bench/_notify_trace.py)")
    args = ap.parse_args()
    from bench._notify_trace import Trace, report

    trace = Trace().install() if args.trace else None
    stages = []

    with team_server("team-notify-bench") as team, ExitStack() as stack:
        (team.base / "session").mkdir()
        desktop = _start_desktop(stack, team.base / "session")
        # The desktop's notifier talks to this private bus (plyer reads it when it connects).
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = desktop.env["DBUS_SESSION_BUS_ADDRESS"]
        os.environ["DISPLAY"] = desktop.env["DISPLAY"]

        from tray_agent.api.thread import ServerThread
        from tray_agent.channels import InboundMessage
        from tray_agent.desktop.notification_engine import Notifications

        app = desktop_app(team.base / "desktop", team.url, team.token, team.me)
        thread = ServerThread(app).start()  # the team runner: snapshot, then the event stream
        engine = Notifications(app, team.me["id"], app.notifiers, state_path=team.base / "notify-state.json")
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
                team.server_app.inbox.receive(team.channel_id, InboundMessage(f"np-{n}-{uuid.uuid4().hex[:6]}",
                                                                              f"+1212556{n % 10000:04d}", text))
                if trace is not None:
                    trace.mark("committed")
                got = desktop.wait_for_notification(lambda x: x.body == text, since=before,  # noqa: B023
                                                    timeout=30)
                lat.append((got.time - t0) * 1000)
                if trace is not None and (one := trace.sample(t0, got.time)) is not None:
                    stages.append(one)
                time.sleep(COALESCE_SECONDS)
        finally:
            engine.stop()
            thread.stop()
            app.close()
        p50, p99 = percentiles(lat)
        print(f"customer message committed on the server -> Notify on the desktop's session bus: "
              f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(lat):.0f} ms ({len(lat)} samples; target p99 <= 300 ms)")
        if stages:
            print(report(stages))
        print(describe() + "; " + load_average())


if __name__ == "__main__":
    main()
