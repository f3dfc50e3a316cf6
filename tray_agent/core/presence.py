"""Presence rules: each agent is available, away or busy (the status they set) — or offline
when none of their devices was seen within a minute. ``heartbeat.py`` records the devices'
heartbeats and announces changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta


#: What an agent may set; "busy" is do-not-disturb.
STATUSES = ("available", "away", "busy")
OFFLINE = "offline"
#: Present when a device of theirs was seen this recently.
PRESENT_FOR = timedelta(seconds=60)
#: A device's last-seen time is written at most this often (not on every request).
HEARTBEAT_EVERY = timedelta(seconds=15)


def check_status(status: str) -> None:
    """Refuse anything but a status an agent may set, in one line."""
    if status not in STATUSES:
        from tray_agent.core.errors import InvalidInput

        raise InvalidInput(f"A status is one of {', '.join(STATUSES)}, not {status!r}.")


def presence_of(status: str, last_seen_at: datetime | None, now: datetime) -> str:
    """The presence others see: the status the agent set while a device of theirs is seen."""
    if last_seen_at is None or now - last_seen_at >= PRESENT_FOR:
        return OFFLINE
    return status if status in STATUSES else "available"
