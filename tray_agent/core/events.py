"""The append-only event log: every change to the inbox, numbered in commit order.

Events are written in the transaction of the change they describe. Readers (the live
stream, notifications, the tray badge, a syncing client) resume from the last sequence
number they saw; ``EventBus`` only wakes them, the log is the truth.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from sqlalchemy import ColumnElement, or_, select, text
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.core.models import Event, QueueMember

# The event types, one name each (the web UI, notifications and plugins switch on them).
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"  # status moved, file expired
CONVERSATION_CREATED = "conversation.created"
CONVERSATION_UPDATED = "conversation.updated"  # claimed, archived, closed, read, ...
CONVERSATION_TRANSFERRED = "conversation.transferred"
CONTACT_UPDATED = "contact.updated"
CHANNEL_UPDATED = "channel.updated"
SETTINGS_UPDATED = "settings.updated"
AGENT_UPDATED = "agent.updated"


#: The client's idempotency key for the action being done in this context (the team
#: server's sync API sets it): the events the action writes carry it as ``client_key``, so
#: the client can swap its local echo for the real row.
CLIENT_KEY: ContextVar[str | None] = ContextVar("tray_agent_client_key", default=None)

#: Key of the PostgreSQL advisory lock that orders event-log writers.
_LOG_LOCK = 0x7A1E7
#: The PostgreSQL channel a commit that wrote events notifies (team server replicas
#: listen on it to wake their readers; the events table stays the truth).
NOTIFY_CHANNEL = "tray_agent_events"
_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_LOCK_AND_NOTIFY = text("SELECT pg_advisory_xact_lock(:k), pg_notify(:c, '')")
_LOCK_PARAMS = {"k": _LOG_LOCK, "c": NOTIFY_CHANNEL}


def serialize_writers(session: Session) -> None:
    """Make sequence order commit order. Readers resume after the last seq they saw, so a
    transaction holding seq 41 must not commit after one holding seq 42. SQLite has one
    writer at a time already; on PostgreSQL a transaction-scoped advisory lock, taken
    before the first event of a transaction, does the same (re-taking it is a no-op).

    A transaction that will write events takes this lock before any row lock (the service
    layer's ``_tx`` takes it first thing): a writer holding it and waiting for a row that
    another locked before asking for it would deadlock against that one."""
    if session.get_bind().dialect.name == "postgresql":
        if session.info.get("tray_notify"):
            session.execute(_LOCK, {"k": _LOG_LOCK})
            return
        # The NOTIFY is delivered at commit, once per transaction; a wake-up only, with no
        # payload. Sent with the lock: one round trip, not two, on every writer's path.
        session.execute(_LOCK_AND_NOTIFY, _LOCK_PARAMS)
        session.info["tray_notify"] = True


def append(
    session: Session,
    type: str,
    *,
    now: Any,
    conversation_id: int | None = None,
    message_id: int | None = None,
    agent_id: int | None = None,
    visible_agent_id: int | None = None,
    visible_queue_id: int | None = None,
    **data: Any,
) -> Event:
    serialize_writers(session)
    key = CLIENT_KEY.get()
    if key is not None:
        data.setdefault("client_key", key)
    ev = Event(
        type=type, conversation_id=conversation_id, message_id=message_id, agent_id=agent_id,
        visible_agent_id=visible_agent_id, visible_queue_id=visible_queue_id,
        created_at=now, data=data,
    )
    session.add(ev)
    session.flush()
    return ev


def visible_to(agent_id: int) -> ColumnElement[bool]:
    """SQL condition: events this agent may see (theirs, their queues', or everyone's)."""
    my_queues = select(col(QueueMember.queue_id)).where(col(QueueMember.agent_id) == agent_id)
    return or_(
        col(Event.visible_agent_id) == agent_id,
        col(Event.visible_queue_id).in_(my_queues),
        (col(Event.visible_agent_id).is_(None)) & (col(Event.visible_queue_id).is_(None)),
        col(Event.agent_id) == agent_id,
    )


class EventBus:
    """Wakes in-process readers after a commit. Carries only the newest sequence number:
    readers re-read the log from their own cursor, so a missed wake-up loses nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Callable[[int], object]] = []

    def published(self, seq: int) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            fn(seq)

    def subscribe(self, fn: Callable[[int], object]) -> Callable[[], None]:
        """Call ``fn(seq)`` after each commit (from the committing thread); returns unsubscribe."""
        with self._lock:
            self._listeners.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._listeners:
                    self._listeners.remove(fn)

        return unsubscribe
