"""What the tray shows, read from the service layer: the unread count, the five most
recent unread conversations, do-not-disturb and the notification settings. A watcher
thread re-reads it after commits (debounced), at do-not-disturb edges and once a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tray_agent.core.display import inert
from tray_agent.desktop import dnd

from tray_agent.desktop.follower import BusFollower

if TYPE_CHECKING:
    from tray_agent.app import App

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.1  # a burst of commits redraws once
HEARTBEAT_SECONDS = 60.0
RELEASE_AFTER = 30.0  # quiet seconds before caches are given back
#: Under traffic that never pauses, freed heap goes back this often (seconds). Under steady
#: traffic the live heap (malloc in use, Python blocks, SQLite's own count) stays flat, but
#: what transactions free between live chunks stays resident until trimmed: +1.8 MB RSS per
#: 1,000 messages untrimmed, +0.4 MB trimmed every 200 messages (in process, 8 readers).
TRIM_EVERY = 30.0
LABEL_CHARS = 48


@dataclass(frozen=True)
class TrayState:
    unread: int = 0
    #: (conversation id, menu label), most recent first, at most five.
    recent: tuple[tuple[int, str], ...] = ()
    dnd_active: bool = False
    dnd_manual: bool = False
    dnd_reason: str | None = None
    popup: bool = True
    sound: bool = True
    #: The kinds of pop-up switched off (settings ``notify``).
    notify_off: frozenset[str] = frozenset()

    @property
    def tooltip(self) -> str:
        text = f"Tray Agent — {self.unread} unread" if self.unread else "Tray Agent — no unread conversations"
        return text + (f" · do not disturb ({self.dnd_reason})" if self.dnd_reason else "")


def _label(name: str, preview: str) -> str:
    text = f"{name} — {preview}" if preview else name
    text = " ".join(inert(text).split())  # the customer's name and words: no bidi reordering
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def read_state(app: "App", agent_id: int, now: datetime | None = None) -> TrayState:
    inbox = app.inbox
    count, ids = inbox.unread_summary(agent_id)
    views = {c.id: c for c in inbox.list_inbox(agent_id, "unread", limit=5).items} if ids else {}
    recent = tuple((cid, _label(v.contact_name or v.customer_name or v.customer_display, v.last_message_preview))
                   for cid in ids if (v := views.get(cid)) is not None)
    settings = inbox.get_settings(agent_id)
    now = now or app.clock.now()
    why = dnd.reason(settings, now)
    return TrayState(unread=count, recent=recent, dnd_active=why is not None, dnd_manual=dnd.manual(settings, now),
                     dnd_reason=why, popup=bool(settings.get("popup")), sound=bool(settings.get("sound")),
                     notify_off=frozenset(k for k, on in (settings.get("notify") or {}).items() if not on))


class StateWatcher(BusFollower):
    """Calls ``on_change(state)`` whenever what the tray shows changes.

    Woken by commits in this process; once a minute it also compares the log's last
    sequence number, to notice changes made by other processes without re-counting.
    After ``RELEASE_AFTER`` quiet seconds it gives memory back (``memory.release``); while
    traffic goes on it returns freed heap every ``TRIM_EVERY`` seconds (``memory.trim``)."""

    thread_name = "tray-state"

    def __init__(self, app: "App", agent_id: int, on_change: Callable[[TrayState], None], *,
                 heartbeat: float = HEARTBEAT_SECONDS, release_after: float = RELEASE_AFTER,
                 trim_every: float = TRIM_EVERY) -> None:
        super().__init__(app.inbox.bus, app.tasks)
        self.app = app
        self.heartbeat = heartbeat
        self.release_after = release_after
        self.trim_every = trim_every
        self.releases = 0
        self.trims = 0
        self._trimmed_at = time.monotonic()
        self.agent_id = agent_id
        self.on_change = on_change
        self.state: TrayState | None = None
        self._seen_seq = -1
        self._release_at: float | None = None

    def refresh(self) -> TrayState:
        self._seen_seq = self.app.inbox.last_seq()
        state = read_state(self.app, self.agent_id)
        if state != self.state:
            self.on_change(state)
            self.state = state  # after the tray has it: readers of ``state`` see what is shown
        self._release_at = time.monotonic() + self.release_after
        return state

    def _timeout(self) -> float:
        settings = self.app.inbox.get_settings(self.agent_id)
        now = self.app.clock.now()
        timeout = self.heartbeat
        edge = dnd.next_change(settings, now)
        if edge is not None:
            timeout = min(timeout, (edge - now).total_seconds() + 0.5)
        if self._release_at is not None:
            timeout = min(timeout, self._release_at - time.monotonic())
        return max(0.05, timeout)

    def _run(self) -> None:
        from tray_agent.desktop import memory

        woke = True
        while not self._stopping:
            try:
                if woke or self.app.inbox.last_seq() != self._seen_seq or self._dnd_edge_passed():
                    self.refresh()
                now = time.monotonic()
                if self._release_at is not None and now >= self._release_at:
                    self._release_at = None
                    memory.release(self.app)
                    self.releases += 1
                    self._trimmed_at = now
                elif self._release_at is not None and now - self._trimmed_at >= self.trim_every:
                    memory.trim()  # busy: connections stay, freed pages go back
                    self.trims += 1
                    self._trimmed_at = now
                timeout = self._timeout()
                self._pass_ok()
            except Exception as exc:
                self._pass_failed(exc)  # logged and shown by doctor and the window
                timeout = 5.0
            woke = self._wake.wait(timeout)
            if woke and not self._stopping:
                time.sleep(DEBOUNCE_SECONDS)  # let a burst of commits finish: one redraw
            self._wake.clear()

    def _dnd_edge_passed(self) -> bool:
        if self.state is None:
            return True
        settings = self.app.inbox.get_settings(self.agent_id)
        return dnd.active(settings, self.app.clock.now()) != self.state.dnd_active
