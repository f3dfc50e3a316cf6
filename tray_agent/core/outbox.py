"""The outbox: an outbound message's states from queued to sent or failed, committed before
and after each provider call (the worker in the channel runtime drives them), and the
provider's delivery statuses, including those that arrive before the send's own answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.channels import OutboundFile, OutboundMessage, StatusUpdate
from tray_agent.core import events
from tray_agent.core.base import InboxBase
from tray_agent.core.errors import InvalidInput, ProviderIdTaken
from tray_agent.core.models import (
    FAILED, STATUS_ORDER, Attachment, Channel, Conversation, EarlyStatus, Event, Message, OutboxItem,
)
from tray_agent.credentials import redact

#: How long a status callback waits for the send it belongs to.
EARLY_STATUS_TTL = timedelta(days=7)


class Fence(Protocol):
    """The outbox worker's lease, checked inside each of its writes' transactions: a worker
    that stalled while another replica took the outbox over is refused (``run/leases.py``)."""

    def check(self, s: Session, *, live: bool = True) -> None: ...


class Outbox(InboxBase):
    # -- the outbox's states -----------------------------------------------------------------

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

    def outbox_claim(self, message_id: int, fence: Fence | None = None) -> tuple[int, OutboundMessage] | None:
        """Mark a pending item as being sent (committed before the provider is called).
        Returns (channel id, what to send), or None if another worker took it. ``fence``:
        only while the worker's lease is live."""
        with self._tx() as (s, out):
            if fence is not None:
                fence.check(s)
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

    def outbox_sent(self, message_id: int, provider_message_id: str, status: str = "sent",
                    fence: Fence | None = None) -> None:
        """Record a send the provider accepted, then any status callback that came before
        this answer. A provider id another message of the channel already holds is refused
        (ProviderIdTaken, nothing changed): it is not this message's. ``fence``: refused
        once another worker took the outbox over (it decides the item)."""
        with self._tx() as (s, out):
            if fence is not None:
                fence.check(s, live=False)
            item, msg = s.get_one(OutboxItem, message_id), s.get_one(Message, message_id)
            # The lock update_status takes before keeping an early callback (see there), after
            # the event log's writer lock _tx took, in the order every writer takes them.
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

    def outbox_retry_later(self, message_id: int, delay: float, error: str, fence: Fence | None = None) -> None:
        error = redact(error)  # a provider's or HTTP client's words: may quote a token
        with self._tx() as (s, _out):
            if fence is not None:
                fence.check(s, live=False)
            item = s.get_one(OutboxItem, message_id)
            item.state, item.last_error = "pending", error[:500]
            item.next_attempt_at = self.clock.now() + timedelta(seconds=delay)
            msg = s.get_one(Message, message_id)
            msg.status = "queued"
            msg.status_reason = f"Retrying: {error}"[:500]

    def outbox_failed(self, message_id: int, reason: str, code: str | None = None, *,
                      rule_refused: bool = False, fence: Fence | None = None) -> None:
        reason = redact(reason)
        with self._tx() as (s, out):
            if fence is not None:
                fence.check(s, live=False)
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

    def outbox_interrupted(self) -> list[tuple[int, int]]:
        """Items a crash left mid-send: (message id, channel id). The worker decides, per
        channel, whether the provider already has them."""
        with self.db.read() as s:
            return [(m, c) for m, c in s.execute(select(col(OutboxItem.message_id), col(OutboxItem.channel_id))
                                                 .where(col(OutboxItem.state) == "sending")).all()]

    def outbox_requeue(self, message_id: int, fence: Fence | None = None) -> None:
        with self._tx() as (s, _out):
            if fence is not None:
                fence.check(s, live=False)
            item = s.get_one(OutboxItem, message_id)
            item.state, item.next_attempt_at = "pending", self.clock.now()
            item.attempts = max(0, item.attempts - 1)

    # -- delivery statuses (the provider's callbacks) -----------------------------------

    def update_status(self, channel_id: int, upd: StatusUpdate) -> bool:
        """Move an outbound message's status forward; late, duplicate and out-of-order
        callbacks are ignored. One for a provider id no message holds yet (the answer to
        the send is slow or was lost) is kept and applied when the send is recorded
        (``outbox_sent``). Returns whether a message changed."""
        status = upd.status
        if status not in STATUS_ORDER and status != FAILED:
            raise InvalidInput(f"{status!r} is not a delivery status.")
        with self._tx() as (s, out):
            msg = self._by_provider_id(s, channel_id, upd.provider_message_id)
            if msg is None:
                # Taken in the same order by outbox_sent (after the writers' lock every _tx
                # holds): on PostgreSQL one of the two then sees the other's commit, so the
                # callback is never kept after the id landed.
                s.execute(select(col(Channel.id)).where(col(Channel.id) == channel_id).with_for_update())
                msg = self._by_provider_id(s, channel_id, upd.provider_message_id)
            if msg is None:
                s.add(EarlyStatus(channel_id=channel_id, provider_message_id=upd.provider_message_id,
                                  status=status, error_code=upd.error_code, reason=upd.error_message,
                                  rule_violation=upd.rule_violation, at=upd.at, received_at=self.clock.now()))
                return False
            return self._apply_status(s, out, msg, upd)

    @staticmethod
    def _by_provider_id(s: Session, channel_id: int, provider_id: str) -> Message | None:
        return s.execute(select(Message).where(
            col(Message.channel_id) == channel_id, col(Message.provider_message_id) == provider_id)).scalar_one_or_none()

    def _apply_status(self, s: Session, out: list[Event], msg: Message, upd: StatusUpdate) -> bool:
        status = upd.status
        if msg.status is None or not _moves_forward(msg.status, status):
            return False
        at = upd.at or self.clock.now()
        msg.status = status
        if status == FAILED:
            msg.status_reason = upd.error_message or "The provider could not deliver the message."
            msg.error_code = upd.error_code
            msg.rule_refused = upd.rule_violation
        elif status == "sent":
            msg.sent_at = msg.sent_at or at
        elif status == "delivered":
            msg.delivered_at = at
        elif status == "read":
            msg.read_at = at
            msg.delivered_at = msg.delivered_at or at
        conv = s.get(Conversation, msg.conversation_id)
        self._emit(s, out, events.MESSAGE_UPDATED, conv, message_id=msg.id, status=status,
                   reason=msg.status_reason if status == FAILED else None)
        return True


def _moves_forward(current: str, new: str) -> bool:
    if current == FAILED:
        return False  # a failure is final; a retry creates a fresh send
    if new == FAILED:
        return current not in ("delivered", "read")
    return STATUS_ORDER.get(new, -1) > STATUS_ORDER.get(current, -1)
