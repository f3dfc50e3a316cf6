"""Do-not-disturb from the agent's settings: on now (``dnd``), until a time (``dnd_until``),
or on a daily schedule in local time (``dnd_schedule``: start/end, may cross midnight);
and the presence it implies (busy while it holds)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

log = logging.getLogger(__name__)

BUSY, AVAILABLE = "busy", "available"


def _until(settings: dict[str, Any], now: datetime) -> datetime | None:
    raw = settings.get("dnd_until")
    if not raw:
        return None
    try:
        until = datetime.fromisoformat(str(raw))
    except ValueError:
        return None
    if until.tzinfo is None:  # a naive time was written in local time
        until = until.astimezone()
    return until if until > now else None


def _schedule(settings: dict[str, Any]) -> tuple[time, time] | None:
    sched = settings.get("dnd_schedule") or {}
    if not sched.get("enabled"):
        return None
    try:
        start, end = time.fromisoformat(str(sched.get("start"))), time.fromisoformat(str(sched.get("end")))
    except ValueError:
        return None
    return (start, end) if start != end else None


def _in_window(t: time, start: time, end: time) -> bool:
    return start <= t < end if start < end else (t >= start or t < end)


def reason(settings: dict[str, Any], now: datetime, tz: tzinfo | None = None) -> str | None:
    """Why notifications are held right now ("on", "until HH:MM", "schedule ..."), or None."""
    if settings.get("dnd"):
        return "on"
    until = _until(settings, now)
    if until is not None:
        return f"until {until.astimezone(tz).strftime('%H:%M')}"
    sched = _schedule(settings)
    if sched is not None:
        local = now.astimezone(tz)
        if _in_window(local.time().replace(tzinfo=None), *sched):
            return f"scheduled {sched[0].strftime('%H:%M')}–{sched[1].strftime('%H:%M')}"
    return None


def active(settings: dict[str, Any], now: datetime, tz: tzinfo | None = None) -> bool:
    """Is do-not-disturb in force at ``now`` (aware)? ``tz`` is the local zone (default: the system's)."""
    return reason(settings, now, tz) is not None


def manual(settings: dict[str, Any], now: datetime) -> bool:
    """On by the agent's own hand (the toggle or "for 1 hour"), as the tray's check mark shows."""
    return bool(settings.get("dnd")) or _until(settings, now) is not None


def next_change(settings: dict[str, Any], now: datetime, tz: tzinfo | None = None) -> datetime | None:
    """The next moment ``active`` may flip by itself (a timer end or a schedule edge)."""
    candidates: list[datetime] = []
    until = _until(settings, now)
    if until is not None:
        candidates.append(until)
    sched = _schedule(settings)
    if sched is not None:
        local = now.astimezone(tz)
        for edge in sched:
            at = datetime.combine(local.date(), edge, tzinfo=local.tzinfo)
            if at <= local:
                at = datetime.combine(local.date() + timedelta(days=1), edge, tzinfo=local.tzinfo)
            candidates.append(at)
    return min(candidates) if candidates else None


class BusyWhileQuiet:
    """The agent's presence follows do-not-disturb: ``busy`` while it holds (on, for an
    hour, or by the schedule) and ``available`` again when it ends, the scheduled end
    included. ``set_status`` is the service layer's (``inbox.set_status``: kept locally on a
    single desktop, sent upstream in team mode); only changes are passed on."""

    def __init__(self, set_status: Callable[[str], object]) -> None:
        self._set = set_status
        self._last: bool | None = None

    def observe(self, active: bool) -> None:
        """Called with do-not-disturb's state whenever the tray's state is read."""
        if active == self._last:
            return
        first, previous = self._last is None, self._last
        self._last = active
        if first and not active:
            return  # started outside do-not-disturb: the status stays what the agent set
        try:
            self._set(BUSY if active else AVAILABLE)
        except Exception as exc:  # the next change tries again; the tray keeps working
            self._last = previous
            log.warning("could not set the presence to %s: %s", BUSY if active else AVAILABLE, exc)
