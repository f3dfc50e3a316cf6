"""Native notifications driven by the event log, for one agent.

Reads events after the last notified sequence number (kept in a small state file, so
nothing is lost or repeated across a restart), picks what deserves a pop-up, honours the
agent's settings (pop-ups, sound, do-not-disturb), and coalesces: the first item after a
quiet spell pops up at once; whatever follows within ``coalesce`` seconds becomes one
summary that replaces it. A restart, a resume from sleep or a late backlog gives one
summary. With no notification back-end it logs what it would have shown.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tray_agent.core import events as E
from tray_agent.core.clock import utc
from tray_agent.core.display import inert
from tray_agent.core.errors import TrayAgentError
from tray_agent.desktop import dnd

from tray_agent.desktop.follower import BusFollower

if TYPE_CHECKING:
    from tray_agent.app import App
    from tray_agent.core.views import EventView
    from tray_agent.notifiers import Notifier

log = logging.getLogger(__name__)

COALESCE_SECONDS = 3.0
RESUME_SETTLE_SECONDS = 4.0  # after sleep, channels catch up in several commits: wait for them
BACKLOG_AGE = timedelta(minutes=2)  # events this old when first seen come from a backlog
HEARTBEAT_SECONDS = 60.0  # also picks up commits made by other processes
SLEEP_GAP_SECONDS = 30.0
PAGE = 1000


@dataclass(frozen=True)
class Item:
    """Something worth telling the agent about, from one event (or two merged)."""

    kind: str  # "new_conversation" | "offered" | "message" | "transferred" | "failed"
    seq: int
    conversation_id: int | None
    message_id: int | None
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


LATEST = 3  # items of a burst kept whole: a summary names the latest few conversations
HANDED = ("transferred", "offered")  # a colleague's hand-over, with the note it carries
WORDED = ("new_conversation", "message")  # kinds whose pop-up shows the message's text


class Burst:
    """What one pop-up covers: counts per kind, the conversations in the order they last
    spoke, and the latest few items — not every item, so a busy inbox that never pauses
    holds the same few objects all day (at most one int per conversation it touched)."""

    def __init__(self, items: Sequence[Item] = ()) -> None:
        self.counts: Counter[str] = Counter()
        self.conversations: dict[int, None] = {}  # insertion order = order of last activity
        self.latest: deque[Item] = deque(maxlen=LATEST)
        #: The latest conversation handed over (to me or my queues): its note is the news,
        #: however many messages follow it in the burst.
        self.handed: Item | None = None
        self.total = 0
        self.add(items)

    def add(self, items: Sequence[Item]) -> None:
        for item in items:
            self.counts[item.kind] += 1
            if item.conversation_id is not None:
                self.conversations.pop(item.conversation_id, None)
                self.conversations[item.conversation_id] = None
            if item.kind in HANDED:
                self.handed = item
            self.latest.append(item)
        self.total += len(items)

    def merged(self, other: "Burst") -> "Burst":
        out = Burst()
        for b in (self, other):
            out.counts.update(b.counts)
            for cid in b.conversations:
                out.conversations.pop(cid, None)
                out.conversations[cid] = None
            out.latest.extend(b.latest)
            out.handed = b.handed or out.handed
            out.total += b.total
        return out

    def __bool__(self) -> bool:
        return self.total > 0

    def __len__(self) -> int:
        return self.total


@dataclass(frozen=True)
class Alert:
    title: str
    body: str
    #: What a click opens; None opens the inbox (summaries of several conversations).
    conversation_id: int | None

    def __post_init__(self) -> None:
        # Names, file names and message text are the customer's: no bidi control may
        # reorder what the pop-up (or the log) shows.
        object.__setattr__(self, "title", inert(self.title))
        object.__setattr__(self, "body", inert(self.body))


#: The settings switch (``notify``) each kind answers to: an offer to my queue is a new
#: conversation for me.
SWITCH = {"new_conversation": "new_conversation", "offered": "new_conversation", "message": "message",
          "transferred": "transferred", "failed": "failed"}


def classify(events: Sequence["EventView"], agent_id: int, queue_ids: "set[int] | frozenset[int]" = frozenset()
             ) -> list[Item]:
    """The notable items among events the agent may see: customer messages (a new
    conversation's first message counts once, as the new conversation), conversations a
    colleague hands to one of this agent's queues (``queue_ids``), transfers to this agent,
    and outbound messages that failed."""
    started = {e.conversation_id for e in events
               if e.type == E.CONVERSATION_CREATED and e.data.get("started_by", "customer") == "customer"}
    items: list[Item] = []
    announced: set[int | None] = set()
    for e in events:
        if e.type == E.MESSAGE_CREATED and e.data.get("direction") == "in":
            kind = "new_conversation" if e.conversation_id in started and e.conversation_id not in announced else "message"
            announced.add(e.conversation_id)
        elif e.type == E.CONVERSATION_TRANSFERRED and e.data.get("to_agent_id") == agent_id:
            kind = "transferred"
        elif (e.type == E.CONVERSATION_TRANSFERRED and e.data.get("to_queue_id") in queue_ids
              and e.data.get("from_agent_id") != agent_id):
            kind = "offered"
        elif e.type == E.MESSAGE_UPDATED and e.data.get("status") == "failed":
            kind = "failed"
        else:
            continue
        items.append(Item(kind, e.seq, e.conversation_id, e.message_id, utc(e.created_at), dict(e.data)))
    return items


class Cursor:
    """The last sequence number notified, per agent, in a JSON file written atomically."""

    def __init__(self, path: Path, agent_id: int) -> None:
        self.path = path
        self.key = str(agent_id)
        self.saved: int | None = None

    def load(self) -> int | None:
        try:
            data = json.loads(self.path.read_text())
            self.saved = int(data["last_notified_seq"][self.key])
        except (OSError, ValueError, KeyError, TypeError):
            self.saved = None
        return self.saved

    def save(self, seq: int) -> None:
        if seq == self.saved:
            return
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            data = {}
        data.setdefault("last_notified_seq", {})[self.key] = seq
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)
        self.saved = seq


class Notifications(BusFollower):
    """The notification engine: one thread, woken by the event bus, no polling."""

    thread_name = "notifications"

    def __init__(self, app: "App", agent_id: int, notifiers: Sequence["Notifier"], *,
                 state_path: Path, coalesce: float = COALESCE_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        super().__init__(app.inbox.bus, app.tasks)
        self.app = app
        self.inbox = app.inbox
        self.agent_id = agent_id
        self.notifiers = list(notifiers)
        self.cursor = Cursor(state_path, agent_id)
        self.coalesce = coalesce
        self._mono = monotonic
        self._wall = wall
        self._read_seq = 0
        #: The settings as this pass read them with its events (None: read them afresh).
        self._settings: dict[str, Any] | None = None
        self._held = Burst()
        self._flush_at = 0.0
        self._episode = Burst()  # what the pop-up on screen covers
        self._popup_id: int | None = None
        self._quiet_until = 0.0
        self._settle_until = 0.0
        self._fresh_popup = False  # the next flush starts a new pop-up (after sleep/backlog)
        #: The last decisions, newest last (the status route and tests read them).
        self.recent: deque[dict[str, Any]] = deque(maxlen=50)
        self.ready = threading.Event()

    # -- life cycle -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._start_cursor()
            self._catch_up()
        except Exception:
            log.exception("notifications could not read the event log at start")
        self.ready.set()
        last_mono, last_wall = self._mono(), self._wall()
        while not self._stopping:
            timeout = HEARTBEAT_SECONDS
            if self._held:
                timeout = max(0.0, min(timeout, self._flush_at - self._mono()))
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stopping:
                break
            now_mono, now_wall = self._mono(), self._wall()
            # Monotonic time stands still in suspend; the wall clock does not.
            if (now_wall - last_wall) - (now_mono - last_mono) > SLEEP_GAP_SECONDS:
                log.info("resumed from sleep: the next notifications are one summary")
                self._settle_until = now_mono + RESUME_SETTLE_SECONDS
            last_mono, last_wall = now_mono, now_wall
            try:
                self.step()
                self._pass_ok()
            except Exception as exc:  # logged, shown by doctor and the window; the next event tries again
                self._pass_failed(exc)

    def _start_cursor(self) -> None:
        saved = self.cursor.load()
        last = self.inbox.last_seq()
        if saved is None or saved > last:  # first run, or a different store: no history pop-ups
            saved = last
            self.cursor.save(saved)
        self._read_seq = saved

    def _catch_up(self) -> None:
        """Everything since the last run: one notification (a summary if several)."""
        items = self._read()
        if items:
            self._show(Burst(items), replaces=None, new_episode=True)
        self.cursor.save(self._read_seq)

    # -- one pass ---------------------------------------------------------------------------

    def step(self) -> None:
        """Read new events and act on them; flush a due summary; persist the cursor."""
        self._settings = None
        items = self._read()
        now = self._mono()
        if items:
            backlog = utc(self.app.clock.now()) - items[0].created_at > BACKLOG_AGE
            if backlog or now < self._settle_until:
                if not self._held:
                    self._flush_at = max(now + RESUME_SETTLE_SECONDS, self._settle_until)
                self._fresh_popup = True
                self._held.add(items)
            elif now >= self._quiet_until and not self._held:
                self._show(Burst(items), replaces=None, new_episode=True)
            else:
                if not self._held:
                    self._flush_at = self._quiet_until
                self._held.add(items)
        if self._held and self._mono() >= self._flush_at:
            held, self._held = self._held, Burst()
            if self._fresh_popup:
                self._fresh_popup = False
                self._show(held, replaces=None, new_episode=True)
            else:
                self._show(self._episode.merged(held), replaces=self._popup_id, new_episode=False)
        if not self._held:
            self.cursor.save(self._read_seq)

    def _read(self) -> list[Item]:
        evs: list["EventView"] = []
        while True:
            page = self.inbox.events_since(self.agent_id, self._read_seq, limit=PAGE)
            if not page:
                break
            evs.extend(page)
            self._read_seq = page[-1].seq
            if len(page) < PAGE or len(evs) >= 50 * PAGE:
                break
        if not evs:
            return []
        # Only a hand-over to a queue asks for the agent's queues: a customer's message
        # (most of what comes) is worded and shown without that read.
        queues: set[int] | frozenset[int] = frozenset()
        if any(e.type == E.CONVERSATION_TRANSFERRED for e in evs):
            queues = self.inbox.agent_scope(self.agent_id)[1]
        self._settings = self.inbox.get_settings(self.agent_id)  # deliver's too, in this pass
        switches = self._settings.get("notify") or {}
        return [i for i in classify(evs, self.agent_id, queues) if switches.get(SWITCH[i.kind], True)]

    def _show(self, burst: Burst, *, replaces: int | None, new_episode: bool) -> None:
        alert = self.describe(burst.latest[-1]) if len(burst) == 1 else self.summarize(burst)
        self._episode = burst
        self._quiet_until = self._mono() + self.coalesce
        nid = self.deliver(alert, replaces=replaces, sound=new_episode, items=len(burst))
        if new_episode or nid is not None:
            self._popup_id = nid

    # -- wording --------------------------------------------------------------------------

    def _who(self, conversation_id: int | None, message_id: int | None = None) -> tuple[str, str, str]:
        """The customer's name, the channel's label and the message's text (one read)."""
        if conversation_id is None:
            return "A customer", "", ""
        try:
            c, m = self.inbox.glance(self.agent_id, conversation_id, message_id)
        except TrayAgentError:  # moved out of this agent's sight meanwhile
            return "A customer", "", ""
        text = ""
        if m is not None:
            files = ", ".join(a.file_name for a in m.attachments)
            text = m.text or (f"📎 {files}" if files else "")
        return (c.contact_name or c.customer_name or c.customer_display), c.channel_label, text

    def describe(self, item: Item) -> Alert:
        who, channel, text = self._who(item.conversation_id, item.message_id if item.kind in WORDED else None)
        via = f" · {channel}" if channel else ""
        if item.kind == "new_conversation":
            return Alert(f"New conversation: {who}{via}", text or "(no text)", item.conversation_id)
        if item.kind == "message":
            return Alert(f"{who}{via}", text or "(no text)", item.conversation_id)
        if item.kind == "offered":
            queue = self._queue_name(item.data.get("to_queue_id"))
            sender = self._agent_name(item.data.get("from_agent_id"))
            note = item.data.get("note") or ""
            return Alert(f"Offered to {queue}: {who}{via}", f"From {sender}" + (f": {note}" if note else ""),
                         item.conversation_id)
        if item.kind == "transferred":
            note = item.data.get("note") or ""
            sender = self._agent_name(item.data.get("from_agent_id"))
            body = f"From {sender}" + (f": {note}" if note else "")
            return Alert(f"Transferred to you: {who}{via}", body, item.conversation_id)
        reason = item.data.get("reason") or "The provider could not deliver it."
        return Alert(f"Not sent to {who}{via}", str(reason), item.conversation_id)

    def _agent_name(self, agent_id: Any) -> str:
        try:
            return self.inbox.get_agent(int(agent_id)).name
        except (TrayAgentError, TypeError, ValueError):
            return "a colleague"

    def _queue_name(self, queue_id: Any) -> str:
        return next((q.name for q in self.inbox.list_queues() if q.id == queue_id), "your queue")

    def summarize(self, items: "Burst | Sequence[Item]") -> Alert:
        burst = items if isinstance(items, Burst) else Burst(items)
        if burst.handed is not None and len(burst.conversations) == 1:
            # One conversation, handed to me with a note while it was talking: the pop-up
            # is the hand-over's (the note), not "1 new message, 1 transferred to you".
            return self.describe(burst.handed)
        msgs = burst.counts["message"] + burst.counts["new_conversation"]
        transfers = burst.counts["transferred"]
        offered = burst.counts["offered"]
        failed = burst.counts["failed"]
        parts = []
        if msgs:
            parts.append(f"{msgs} new message" + ("s" if msgs != 1 else ""))
        if transfers:
            parts.append(f"{transfers} transferred to you")
        if offered:
            parts.append(f"{offered} offered to your queues")
        if failed:
            parts.append(f"{failed} not sent")
        n = len(burst.conversations)
        latest = list(itertools.islice(reversed(burst.conversations), LATEST))
        names = [self._who(c)[0] for c in latest]
        more = n - len(names)
        listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
        body = f"{n} conversation{'s' if n != 1 else ''}: {listed}" if n else ""
        if burst.handed is not None and transfers + offered == 1:
            body += f" · {self.describe(burst.handed).body}"  # the one hand-over's note
        return Alert(", ".join(parts), body, latest[0] if n == 1 else None)

    # -- delivery ---------------------------------------------------------------------------

    def _notifier(self) -> "Notifier | None":
        for n in self.notifiers:
            try:
                if n.available():
                    return n
            except Exception:
                log.exception("notifier %s failed its availability check", getattr(n, "name", n))
        return None

    def deliver(self, alert: Alert, *, replaces: int | None = None, sound: bool = True,
                items: int = 1) -> int | None:
        """Show ``alert`` as the settings allow; returns the pop-up's id where known."""
        settings = self._settings if self._settings is not None else self.inbox.get_settings(self.agent_id)
        record: dict[str, Any] = {"title": alert.title, "body": alert.body, "items": items,
                                  "conversation_id": alert.conversation_id, "replaces": replaces,
                                  "at": self._wall()}
        try:
            return self._decide(alert, record, settings, replaces=replaces, sound=sound)
        finally:
            self.recent.append(record)  # once decided: readers never see a half-made record

    def _decide(self, alert: Alert, record: dict[str, Any], settings: dict[str, Any], *,
                replaces: int | None, sound: bool) -> int | None:
        why = dnd.reason(settings, self.app.clock.now())
        if why is not None:
            record["outcome"] = "dnd"
            log.info("do not disturb (%s): held back %r", why, alert.title)
            return None
        play = sound and bool(settings.get("sound"))
        notifier = self._notifier()
        if not settings.get("popup"):
            record["outcome"] = "popup-off"
            log.info("pop-ups are off: not showing %r", alert.title)
            if play:
                self._play(notifier)
            return None
        if notifier is None:
            record["outcome"] = "logged"
            log.info("would notify (no notification server): %s — %s", alert.title, alert.body)
            return None
        try:
            if getattr(notifier, "supports_replace", False):
                # A notifier that supports_replace takes replaces= and returns the notification's id.
                nid = notifier.notify(alert.title, alert.body, sound=play,  # type: ignore[call-arg, func-returns-value]
                                      conversation_id=alert.conversation_id, replaces=replaces)
            else:
                notifier.notify(alert.title, alert.body, sound=play, conversation_id=alert.conversation_id)
                nid = None
        except Exception as exc:
            record["outcome"] = "failed"
            log.warning("could not show a notification (%s): %s — %s", exc, alert.title, alert.body)
            forget = getattr(notifier, "forget", None)
            if forget is not None:
                forget()
            return None
        record["outcome"] = "shown"
        record["id"] = nid
        return nid

    def _play(self, notifier: Any) -> None:
        player = getattr(notifier, "sound", None)
        if player is None:
            from tray_agent.desktop.sound import SoundPlayer

            player = SoundPlayer()
        player.play()
