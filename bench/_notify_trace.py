"""Where a notification's time goes: wall-clock marks along one customer message's path on
the desktop (its event off the stream, the fetch of what it names, the cache's commit, the
engine's wake-up, the Notify call), for bench/team_notify.py --trace."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bench._machine import percentiles

#: The marks in path order; each stage is the time from the one before it. ``committed``
#: (``inbox.receive`` returned on the server) is timed from the start and left out of the
#: chain: the stream may deliver the event before ``receive`` has returned.
STAGES = ("streamed", "fetched", "cached", "woken", "events", "worded", "notified")


class Trace:
    """Marks times (time.time, as dbus-monitor's) by patching the desktop's classes."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._undo: list[Callable[[], None]] = []

    def mark(self, stage: str) -> None:
        with self._lock:
            self.marks.append((stage, time.time()))

    def _wrap(self, owner: Any, name: str, before: str | None, after: str | None,
              when: Callable[..., bool] = lambda *a, **k: True) -> None:
        real = getattr(owner, name)

        def wrapped(*a: Any, **k: Any) -> Any:
            hit = when(*a, **k)
            if hit and before:
                self.mark(before)
            try:
                return real(*a, **k)
            finally:
                if hit and after:
                    self.mark(after)

        setattr(owner, name, wrapped)
        self._undo.append(lambda: setattr(owner, name, real))

    def install(self) -> "Trace":
        from tray_agent.core.events import EventBus
        from tray_agent.desktop.notification_engine import Notifications
        from tray_agent.team import link, sync

        self._wrap(sync, "parse", None, "streamed", lambda blocks: any("message.created" in b for b in blocks))
        self._wrap(link.Link, "request", None, "fetched", lambda _self, method, path, **k: path == "/sync/v1/fetch")
        self._wrap(EventBus, "published", "cached", None)
        self._wrap(Notifications, "step", "woken", None)
        self._wrap(Notifications, "_read", None, "events")
        self._wrap(Notifications, "describe", None, "worded")
        return self

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def sample(self, t0: float, shown: float) -> dict[str, float] | None:
        """One sample's stage durations (ms): each stage's first mark after the one before
        it (None if one is missing); marks up to ``shown`` are then dropped."""
        with self._lock:
            marks, self.marks = self.marks, [(s, t) for s, t in self.marks if t > shown]
        done = next((t for s, t in marks if s == "committed" and t >= t0), None)
        if done is None:
            return None
        out, prev = {"committed": (done - t0) * 1000}, t0
        for stage in STAGES:
            t = shown if stage == "notified" else next((t for s, t in marks if s == stage and t >= prev), None)
            if t is None:
                return None
            out[stage] = (t - prev) * 1000
            prev = t
        return out


def report(samples: list[dict[str, float]]) -> str:
    """Per stage: p50 / p99 / max of its own time, over the samples that had every mark."""
    what = {"committed": "(server's receive returned)", "streamed": "send -> event off the SSE stream",
            "fetched": "-> /sync/v1/fetch answered", "cached": "-> cache committed (bus told)",
            "woken": "-> engine woken", "events": "-> engine read the events", "worded": "-> pop-up worded",
            "notified": "-> Notify on the bus"}
    lines = [f"trace of {len(samples)} samples (ms, each stage from the one before):"]
    for stage in ("committed", *STAGES):
        xs = [s[stage] for s in samples]
        p50, p99 = percentiles(xs)
        lines.append(f"  {what[stage]:34s} p50 {p50:7.1f}  p99 {p99:7.1f}  max {max(xs):7.1f}")
    return "\n".join(lines)
