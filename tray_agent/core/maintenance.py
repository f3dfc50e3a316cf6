"""The background rules: idle conversations close, files expire; and the background tasks'
health that the supervisor records.

Each sweep reads the injectable clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlmodel import col

from tray_agent.core import events
from tray_agent.core.base import InboxBase
from tray_agent.core.models import Attachment, Channel, Conversation, Event, Message, TaskStatus
from tray_agent.core import rules as R

if TYPE_CHECKING:
    from tray_agent.supervisor import TaskState

SWEEP_BATCH = 500
#: Events deleted per pass: a first prune of a long log goes in bounded transactions.
PRUNE_BATCH = 10_000


class Maintenance(InboxBase):
    def prune_events(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Delete up to ``limit`` of the oldest events written before ``before``, never the
        newest (cursors are checked against the log's first and last seq: a reader whose
        cursor is older than the first is told to resync). Returns how many went."""
        with self.db.write() as s:
            newest = s.execute(select(func.max(col(Event.seq)))).scalar()
            if newest is None:
                return 0
            doomed = select(col(Event.seq)).where(col(Event.created_at) < before, col(Event.seq) < newest) \
                .order_by(col(Event.seq)).limit(limit)
            return int(s.execute(delete(Event).where(col(Event.seq).in_(doomed.scalar_subquery())))  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
                       .rowcount)

    def close_idle(self, now: datetime | None = None) -> int:
        """Close open conversations idle longer than their channel's rule allows."""
        now = now or self.clock.now()
        closed = 0
        with self.db.read() as s:
            channels = list(s.execute(select(Channel)).scalars())
        for ch in channels:
            override = timedelta(seconds=ch.auto_close_seconds) if ch.auto_close_seconds is not None else None
            after = R.effective_auto_close(self._rules(ch), override)
            if after is None:
                continue
            while True:
                with self._tx() as (s, out):
                    due = list(s.execute(select(Conversation).where(
                        col(Conversation.channel_id) == ch.id, col(Conversation.status) == "open",
                        col(Conversation.last_activity_at) <= now - after).limit(SWEEP_BATCH)).scalars())
                    for conv in due:
                        self._close(s, out, conv, f"Closed automatically after {_human(after)} without activity", None)
                closed += len(due)
                if len(due) < SWEEP_BATCH:
                    break
        return closed

    def expire_files(self, now: datetime | None = None) -> int:
        """Delete files past their retention from disk; their messages stay, marked expired."""
        now = now or self.clock.now()
        expired = 0
        while True:
            with self._tx() as (s, out):
                due = list(s.execute(select(Attachment).where(
                    col(Attachment.expired).is_(False), col(Attachment.expires_at) <= now).limit(SWEEP_BATCH)).scalars())
                for a in due:
                    self.files.delete(a.storage_path)
                    a.expired, a.storage_path, a.link_token = True, "", None
                    msg = s.get(Message, a.message_id)
                    conv = s.get(Conversation, msg.conversation_id) if msg else None
                    self._emit(s, out, events.MESSAGE_UPDATED, conv, message_id=a.message_id,
                               change="file_expired", attachment_id=a.id)
            expired += len(due)
            if len(due) < SWEEP_BATCH:
                return expired

    # -- background tasks' health (the supervisor's board writes it; doctor reads it) ----

    def record_task(self, state: "TaskState") -> None:
        with self.db.write() as s:
            row = s.get(TaskStatus, state.name) or TaskStatus(name=state.name)
            row.consecutive_failures, row.failures = state.consecutive_failures, state.failures
            row.last_error, row.failed_at = state.last_error[:2000], state.failed_at
            row.ok_at, row.retry_at = state.ok_at, state.retry_at
            s.add(row)

    def task_statuses(self) -> list[TaskStatus]:
        with self.db.read() as s:
            return list(s.execute(select(TaskStatus).order_by(col(TaskStatus.name))).scalars())


def _human(td: timedelta) -> str:
    secs = int(td.total_seconds())
    if secs % 3600 == 0:
        h = secs // 3600
        return f"{h} hour" + ("s" if h != 1 else "") if h < 48 else f"{h // 24} days"
    return f"{secs // 60} minutes"
