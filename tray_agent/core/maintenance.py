"""The background rules: idle conversations close, files expire, and the outbox's states.

Each sweep reads the injectable clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.channels import OutboundFile, OutboundMessage, StatusUpdate
from tray_agent.core import events
from tray_agent.core.actions import Actions
from tray_agent.core.errors import ProviderIdTaken
from tray_agent.core.models import Attachment, Channel, Conversation, EarlyStatus, Message, OutboxItem, TaskStatus
from tray_agent.core import rules as R
from tray_agent.secrets import redact

if TYPE_CHECKING:
    from tray_agent.supervisor import TaskState

SWEEP_BATCH = 500
#: How long a status callback waits for the send it belongs to.
EARLY_STATUS_TTL = timedelta(days=7)


class Maintenance(Actions):
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

    # -- the outbox's states (the worker in outbox.py drives them) -------------------------

    def outbox_due(self, now: datetime | None = None, limit: int = 20) -> list[int]:
        now = now or self.clock.now()
        with self.db.read() as s:
            return list(s.execute(select(col(OutboxItem.message_id)).where(
                col(OutboxItem.state) == "pending", col(OutboxItem.next_attempt_at) <= now)
                .order_by(col(OutboxItem.next_attempt_at)).limit(limit)).scalars())

    def outbox_next_due_at(self) -> datetime | None:
        with self.db.read() as s:
            return s.execute(select(col(OutboxItem.next_attempt_at)).where(col(OutboxItem.state) == "pending")
                             .order_by(col(OutboxItem.next_attempt_at)).limit(1)).scalar()

    def outbox_claim(self, message_id: int) -> tuple[int, OutboundMessage] | None:
        """Mark a pending item as being sent (committed before the provider is called).
        Returns (channel id, what to send), or None if another worker took it."""
        with self._tx() as (s, out):
            won = s.execute(update(OutboxItem).where(col(OutboxItem.message_id) == message_id, col(OutboxItem.state) == "pending")  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
                            .values(state="sending", attempts=col(OutboxItem.attempts) + 1)
                            .execution_options(synchronize_session=False)).rowcount
            if not won:
                return None
            item = s.get_one(OutboxItem, message_id)
            msg = s.get_one(Message, message_id)
            if msg.status == "queued":
                msg.status = "sending"
            return item.channel_id, self._outbound(s, msg, item)

    def outbox_peek(self, message_id: int) -> OutboundMessage | None:
        """What an outbox item would send, without changing it (crash recovery's lookups)."""
        with self.db.read() as s:
            item, msg = s.get(OutboxItem, message_id), s.get(Message, message_id)
            return None if item is None or msg is None else self._outbound(s, msg, item)

    def _outbound(self, s: Session, msg: Message, item: OutboxItem) -> OutboundMessage:
        conv = s.get_one(Conversation, msg.conversation_id)
        links = set(msg.meta.get("as_link", []))
        atts = s.execute(select(Attachment).where(col(Attachment.message_id) == msg.id).order_by(col(Attachment.id))).scalars()
        files = []
        for a in atts:
            if a.expired:
                continue
            files.append(OutboundFile(a.file_name, a.mime_type, a.size, str(self.files.path(a.storage_path)),
                                      as_link=a.id in links, public_url=None))
        return OutboundMessage(message_id=msg.id, customer_address=conv.customer_address, text=msg.text,
                               files=tuple(files), attempt=item.attempts, created_at=msg.created_at)

    def outbox_sent(self, message_id: int, provider_message_id: str, status: str = "sent") -> None:
        """Record a send the provider accepted, then any status callback that came before
        this answer. A provider id another message of the channel already holds is refused
        (ProviderIdTaken, nothing changed): it is not this message's."""
        with self._tx() as (s, out):
            item, msg = s.get_one(OutboxItem, message_id), s.get_one(Message, message_id)
            # The lock update_status takes before keeping an early callback (see there).
            s.execute(select(col(Channel.id)).where(col(Channel.id) == msg.channel_id).with_for_update())
            if self._held(s, msg.channel_id, [provider_message_id], message_id):
                raise ProviderIdTaken(f"The provider's message {provider_message_id} is already another "
                                      "message's; it was not taken for this one.")
            item.state, item.last_error = "done", ""
            msg.provider_message_id = provider_message_id
            # A status callback may already have moved it further; never move it back.
            if msg.status in (None, "queued", "sending") or (status == "failed"):
                msg.status = status
            if msg.status != "failed":
                msg.status_reason = None  # "Retrying: …" no longer holds once it went through
            msg.sent_at = msg.sent_at or self.clock.now()
            conv = s.get(Conversation, msg.conversation_id)
            self._emit(s, out, events.MESSAGE_UPDATED, conv, message_id=msg.id, status=msg.status)
            early = list(s.execute(select(EarlyStatus).where(
                col(EarlyStatus.channel_id) == msg.channel_id, col(EarlyStatus.provider_message_id) == provider_message_id)
                .order_by(col(EarlyStatus.id))).scalars())
            for e in early:
                self._apply_status(s, out, msg, StatusUpdate(provider_message_id, e.status, e.at, e.error_code,
                                                             e.reason, e.rule_violation))
                s.delete(e)

    def expire_early_statuses(self, now: datetime | None = None) -> int:
        """Forget status callbacks no send claimed within a week (another system's sends
        on the same number, or sends lost for good): the table stays small."""
        now = now or self.clock.now()
        with self._tx() as (s, _out):
            return int(s.execute(delete(EarlyStatus).where(col(EarlyStatus.received_at) <= now - EARLY_STATUS_TTL)  # type: ignore[attr-defined]  # DML returns a CursorResult (rowcount)
                                 .execution_options(synchronize_session=False)).rowcount or 0)

    def outbox_retry_later(self, message_id: int, delay: float, error: str) -> None:
        error = redact(error)  # a provider's or HTTP client's words: may quote a token
        with self._tx() as (s, _out):
            item = s.get_one(OutboxItem, message_id)
            item.state, item.last_error = "pending", error[:500]
            item.next_attempt_at = self.clock.now() + timedelta(seconds=delay)
            msg = s.get_one(Message, message_id)
            msg.status = "queued"
            msg.status_reason = f"Retrying: {error}"[:500]

    def outbox_failed(self, message_id: int, reason: str, code: str | None = None, *,
                      rule_refused: bool = False) -> None:
        reason = redact(reason)
        with self._tx() as (s, out):
            item, msg = s.get_one(OutboxItem, message_id), s.get_one(Message, message_id)
            item.state, item.last_error = "failed", reason[:500]
            msg.status, msg.status_reason, msg.error_code, msg.rule_refused = "failed", reason[:500], code, rule_refused
            conv = s.get(Conversation, msg.conversation_id)
            self._emit(s, out, events.MESSAGE_UPDATED, conv, message_id=msg.id, status="failed", reason=reason)

    def outbox_ids_held(self, channel_id: int, provider_ids: Sequence[str],
                          message_id: int | None = None) -> set[str]:
        """Which of these provider ids a message of the channel (other than ``message_id``)
        already holds: crash recovery must never take another message's send."""
        with self.db.read() as s:
            return self._held(s, channel_id, provider_ids, message_id)

    @staticmethod
    def _held(s: Session, channel_id: int, provider_ids: Sequence[str], message_id: int | None) -> set[str]:
        if not provider_ids:
            return set()
        q = select(col(Message.provider_message_id)).where(col(Message.channel_id) == channel_id,
                                                      col(Message.provider_message_id).in_(list(provider_ids)))
        if message_id is not None:
            q = q.where(col(Message.id) != message_id)
        return {p for p in s.execute(q).scalars() if p is not None}  # (IN never matches NULL)

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

    def outbox_interrupted(self) -> list[tuple[int, int]]:
        """Items a crash left mid-send: (message id, channel id). The worker decides, per
        channel, whether the provider already has them."""
        with self.db.read() as s:
            return [(m, c) for m, c in s.execute(select(col(OutboxItem.message_id), col(OutboxItem.channel_id))
                                                 .where(col(OutboxItem.state) == "sending")).all()]

    def outbox_requeue(self, message_id: int) -> None:
        with self._tx() as (s, _out):
            item = s.get_one(OutboxItem, message_id)
            item.state, item.next_attempt_at = "pending", self.clock.now()
            item.attempts = max(0, item.attempts - 1)


def _human(td: timedelta) -> str:
    secs = int(td.total_seconds())
    if secs % 3600 == 0:
        h = secs // 3600
        return f"{h} hour" + ("s" if h != 1 else "") if h < 48 else f"{h // 24} days"
    return f"{secs // 60} minutes"
