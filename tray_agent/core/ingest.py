"""Inbound traffic: customer messages and delivery statuses, stored idempotently.

Persist first, then act: a webhook is acknowledged only after ``receive`` has committed.
The same provider message id twice stores one message; a status only ever moves forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tray_agent.channels import InboundFile, InboundMessage, StatusUpdate
from tray_agent.core import events
from tray_agent.core.base import InboxBase, preview
from tray_agent.core.errors import InvalidInput
from tray_agent.core.files import StagedFile
from tray_agent.core.models import (
    FAILED, IN, STATUS_ORDER, Attachment, Channel, ContactPoint, Conversation, Event, Message,
)
from tray_agent.core.rules import ChannelRules


class Ingest(InboxBase):
    def receive(self, channel_id: int, msg: InboundMessage) -> int:
        """Store one customer message; return its id (the existing one for a duplicate)."""
        ch = self._channel(channel_id)
        rules = self._rules(ch)
        if not msg.provider_message_id:
            raise InvalidInput("An inbound message needs the provider's message id.")
        address = self._normalize_address(rules, msg.customer_address)
        existing = self._existing(channel_id, msg.provider_message_id)
        if existing is not None:
            return existing
        staged = [self._stage_inbound(rules, f) for f in msg.files]
        for attempt in range(3):
            try:
                with self._tx() as (s, out):
                    return self._store_inbound(s, out, ch, rules, address, msg, staged)
            except IntegrityError:
                # A concurrent delivery of the same message, or a race to open the
                # conversation: look again; the loser finds what the winner stored.
                existing = self._existing(channel_id, msg.provider_message_id)
                if existing is not None:
                    for f in staged:
                        f.path.unlink(missing_ok=True)
                    return existing
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def receive_batch(self, channel_id: int, batch: Sequence[InboundMessage]) -> int:
        """Store many text messages in one transaction (imports, benchmarks). Returns the
        number newly stored; duplicates of stored provider ids are skipped."""
        ch = self._channel(channel_id)
        rules = self._rules(ch)
        now = self.clock.now()
        stored = 0
        with self._tx() as (s, out):
            known = set(s.execute(select(Message.provider_message_id).where(
                Message.channel_id == channel_id,
                Message.provider_message_id.in_([m.provider_message_id for m in batch]))).scalars())  # type: ignore[union-attr]
            open_convs: dict[str, Conversation] = {}
            msg_rows = []
            for m in batch:
                if m.provider_message_id in known:
                    continue
                known.add(m.provider_message_id)
                address = self._normalize_address(rules, m.customer_address)
                conv = open_convs.get(address) or self._open_conversation(s, out, ch, address, m.customer_name, now)
                open_convs[address] = conv
                at = m.sent_at or now
                msg_rows.append(dict(conversation_id=conv.id, channel_id=channel_id, direction=IN, kind="text",
                                     text=m.text, provider_message_id=m.provider_message_id, created_at=at,
                                     meta=m.meta or {}))
                conv.last_activity_at = conv.last_inbound_at = at
                conv.last_message_preview = preview(m.text)
                conv.last_message_direction = IN
                conv.archived = False
            if msg_rows:
                ids = s.execute(insert(Message).returning(Message.id, Message.conversation_id, sort_by_parameter_order=True), msg_rows).all()
                by_id = {c.id: c for c in open_convs.values()}
                for mid, cid in ids:  # RETURNING is in insert order: the last id per conversation wins
                    by_id[cid].last_message_id = by_id[cid].last_inbound_message_id = mid
                s.execute(insert(Event), [
                    dict(type=events.MESSAGE_CREATED, conversation_id=cid, message_id=mid, created_at=now,
                         data={"direction": IN}, visible_agent_id=by_id[cid].assigned_agent_id,
                         visible_queue_id=by_id[cid].queue_id if by_id[cid].assigned_agent_id is None else None)
                    for mid, cid in ids
                ])
                stored = len(ids)
                out.append(s.execute(select(Event).order_by(Event.seq.desc()).limit(1)).scalar_one())  # type: ignore[union-attr]
        return stored

    def update_status(self, channel_id: int, upd: StatusUpdate) -> bool:
        """Move an outbound message's status forward; late, duplicate and out-of-order
        callbacks are ignored. Returns whether anything changed."""
        status = upd.status
        if status not in STATUS_ORDER and status != FAILED:
            raise InvalidInput(f"{status!r} is not a delivery status.")
        with self._tx() as (s, out):
            msg = s.execute(select(Message).where(
                Message.channel_id == channel_id, Message.provider_message_id == upd.provider_message_id)
            ).scalar_one_or_none()
            if msg is None or msg.status is None:
                return False
            if not _moves_forward(msg.status, status):
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

    # -- helpers ---------------------------------------------------------------------

    def _existing(self, channel_id: int, provider_id: str) -> int | None:
        with self.db.read() as s:
            return s.execute(select(Message.id).where(
                Message.channel_id == channel_id, Message.provider_message_id == provider_id)).scalar()

    def _stage_inbound(self, rules: ChannelRules, f: InboundFile) -> StagedFile:
        return self.files.stage_bytes(f.data, f.file_name, f.mime_type, rules.max_file_bytes)

    def _store_inbound(self, s: Session, out: list[Event], ch: Channel, rules: ChannelRules,
                       address: str, msg: InboundMessage, staged: list[StagedFile]) -> int:
        now = self.clock.now()
        at = min(msg.sent_at, now) if msg.sent_at else now
        conv = self._open_conversation(s, out, ch, address, msg.customer_name, now)
        kind = "file" if staged and not msg.text else "text"
        m = Message(conversation_id=conv.id, channel_id=ch.id, direction=IN, kind=kind, text=msg.text,
                    provider_message_id=msg.provider_message_id, created_at=at, meta=dict(msg.meta))
        s.add(m)
        s.flush()
        for f in staged:
            self._attach(s, m.id, f, rules, now)
        was_archived = conv.archived
        conv.archived = False
        conv.last_activity_at = max(conv.last_activity_at or at, at)
        conv.last_inbound_at = max(conv.last_inbound_at or at, at)
        conv.last_message_id = conv.last_inbound_message_id = m.id
        conv.last_message_preview = preview(msg.text) or ", ".join(f.file_name for f in staged)
        conv.last_message_direction = IN
        if msg.customer_name:
            conv.customer_name = msg.customer_name
        self._emit(s, out, events.MESSAGE_CREATED, conv, message_id=m.id, direction=IN,
                   unarchived=was_archived)
        return m.id  # type: ignore[return-value]

    def _attach(self, s: Session, message_id: int, f: StagedFile, rules: ChannelRules, now: datetime) -> Attachment:
        rel = self.files.adopt(f)
        a = Attachment(message_id=message_id, file_name=f.file_name, mime_type=f.mime_type, size=f.size,
                       sha256=f.sha256, storage_path=rel, created_at=now,
                       expires_at=now + rules.file_retention)
        s.add(a)
        s.flush()
        return a

    def _open_conversation(self, s: Session, out: list[Event], ch: Channel, address: str,
                           customer_name: str | None, now: datetime, *, started_by: str = "customer",
                           agent_id: int | None = None) -> Conversation:
        """The open conversation with this customer on this channel, or a new routed one."""
        conv = s.execute(select(Conversation).where(
            Conversation.channel_id == ch.id, Conversation.customer_address == address,
            Conversation.status == "open")).scalar_one_or_none()
        if conv is not None:
            return conv
        contact_id = s.execute(select(ContactPoint.contact_id).where(
            ContactPoint.address == address)).scalars().first()
        conv = Conversation(
            channel_id=ch.id, customer_address=address, customer_name=customer_name, contact_id=contact_id,
            assigned_agent_id=agent_id if agent_id is not None else ch.route_agent_id,
            queue_id=ch.route_queue_id, started_by=started_by, created_at=now, last_activity_at=now,
        )
        s.add(conv)
        s.flush()
        self._emit(s, out, events.CONVERSATION_CREATED, conv, started_by=started_by)
        return conv


def _moves_forward(current: str, new: str) -> bool:
    if current == FAILED:
        return False  # a failure is final; a retry creates a fresh send
    if new == FAILED:
        return current not in ("delivered", "read")
    return STATUS_ORDER.get(new, -1) > STATUS_ORDER.get(current, -1)
