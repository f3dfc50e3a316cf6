"""What every part of the service layer shares: the store, the clock, the channel types,
visibility rules, the after-commit publication and the building of views.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from tray_agent.channels import ChannelType
from tray_agent.core import events, phone
from tray_agent.core.clock import Clock
from tray_agent.core.db import Database
from tray_agent.core.errors import NotFound
from tray_agent.core.events import EventBus
from tray_agent.core.files import FileStore
from tray_agent.core.models import (
    IN, Agent, Attachment, Channel, Contact, Conversation, Event, Message, MessageQueue,
    QueueMember, ReadState,
)
from tray_agent.core.rules import ChannelRules
from tray_agent.core.views import (
    AgentView, AttachmentView, ConversationView, EventView, MessageView,
)

#: Rules for a channel whose plugin is missing: nothing can be sent until it is back.
MISSING_RULES = ChannelRules(business_can_start=False)
ONLINE_FOR = timedelta(minutes=2)


class InboxBase:
    def __init__(
        self,
        db: Database,
        files: FileStore,
        clock: Clock,
        channel_types: Mapping[str, ChannelType],
        *,
        bus: EventBus | None = None,
        on_commit: Callable[[Sequence[Event]], None] | None = None,
        call_handlers: Mapping[str, Any] | None = None,
    ) -> None:
        self.db = db
        self.files = files
        self.clock = clock
        self.channel_types = dict(channel_types)
        self.call_handlers = dict(call_handlers or {})
        self.bus = bus or EventBus()
        self.on_commit = on_commit
        self._channels: dict[int, Channel] = {}
        self._channels_lock = threading.Lock()

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[tuple[Session, list[Event]]]:
        """A write transaction; events appended to the list are published after commit."""
        written: list[Event] = []
        with self.db.write() as s:
            yield s, written
        if written:
            self._publish(written)

    def _publish(self, written: Sequence[Event]) -> None:
        self.bus.published(max(e.seq for e in written))  # type: ignore[type-var]
        if self.on_commit is not None:
            # Raw records: views are built only by a listener that wants them, off this path.
            self.on_commit(written)

    def _emit(self, s: Session, out: list[Event], type: str, conv: Conversation | None = None,
              **kw: Any) -> Event:
        if conv is not None:
            kw.setdefault("conversation_id", conv.id)
            kw.setdefault("visible_agent_id", conv.assigned_agent_id)
            kw.setdefault("visible_queue_id", conv.queue_id if conv.assigned_agent_id is None else None)
        ev = events.append(s, type, now=self.clock.now(), **kw)
        out.append(ev)
        return ev

    # -- channels -------------------------------------------------------------------

    def _channel(self, channel_id: int, s: Session | None = None) -> Channel:
        with self._channels_lock:
            ch = self._channels.get(channel_id)
        if ch is not None:
            return ch
        if s is None:
            with self.db.read() as rs:
                ch = rs.get(Channel, channel_id)
        else:
            ch = s.get(Channel, channel_id)
        if ch is None:
            raise NotFound(f"There is no channel {channel_id}.")
        with self._channels_lock:
            self._channels[channel_id] = ch
        return ch

    def _forget_channel(self, channel_id: int) -> None:
        with self._channels_lock:
            self._channels.pop(channel_id, None)

    def _type(self, ch: Channel) -> ChannelType | None:
        return self.channel_types.get(ch.kind)

    def _rules(self, ch: Channel) -> ChannelRules:
        t = self._type(ch)
        return t.rules if t else MISSING_RULES

    def _label(self, ch: Channel) -> str:
        t = self._type(ch)
        return t.label if t else ch.kind

    def _normalize_address(self, rules: ChannelRules, raw: str) -> str:
        return phone.normalize(raw) if rules.address_kind == "phone" else raw.strip()

    # -- visibility -----------------------------------------------------------------

    def _my_queues(self, s: Session, agent_id: int) -> list[int]:
        return list(s.execute(select(QueueMember.queue_id).where(QueueMember.agent_id == agent_id)).scalars())

    def _visible(self, agent_id: int, queues: list[int]) -> Any:
        """Conversations an agent sees: their own, and unassigned ones routed to their queues
        (or to no queue at all)."""
        unassigned = Conversation.assigned_agent_id.is_(None)  # type: ignore[union-attr]
        if queues:
            routed = or_(Conversation.queue_id.is_(None), Conversation.queue_id.in_(queues))  # type: ignore[union-attr]
        else:
            routed = Conversation.queue_id.is_(None)  # type: ignore[union-attr]
        return or_(Conversation.assigned_agent_id == agent_id, and_(unassigned, routed))

    def _conversation(self, s: Session, agent_id: int, conversation_id: int, *,
                      for_update: bool = False) -> Conversation:
        conv = s.get(Conversation, conversation_id, with_for_update=for_update and not self.db.is_sqlite)
        if conv is None or not self._sees(s, agent_id, conv):
            raise NotFound(f"There is no conversation {conversation_id} in your inbox.")
        return conv

    def _sees(self, s: Session, agent_id: int, conv: Conversation) -> bool:
        if conv.assigned_agent_id == agent_id:
            return True
        if self._is_admin(s, agent_id):
            return True  # a team server's administrator sees every conversation
        if conv.assigned_agent_id is not None:
            return conv.assigned_agent_id == agent_id
        return conv.queue_id is None or conv.queue_id in self._my_queues(s, agent_id)

    def _is_admin(self, s: Session, agent_id: int) -> bool:
        agent = s.get(Agent, agent_id)
        return agent is not None and agent.role == "admin"

    def _agent(self, s: Session, agent_id: int) -> Agent:
        agent = s.get(Agent, agent_id)
        if agent is None:
            raise NotFound(f"There is no agent {agent_id}.")
        return agent

    # -- views ----------------------------------------------------------------------

    def _agent_names(self, s: Session) -> dict[int, str]:
        return {a.id: a.name for a in s.execute(select(Agent.id, Agent.name)).all()}

    def _conversation_views(self, s: Session, agent_id: int, convs: Sequence[Conversation]) -> list[ConversationView]:
        if not convs:
            return []
        ids = [c.id for c in convs]
        reads = {r.conversation_id: r for r in s.execute(
            select(ReadState).where(ReadState.agent_id == agent_id, ReadState.conversation_id.in_(ids))  # type: ignore[attr-defined]
        ).scalars()}
        names = self._agent_names(s)
        queue_ids = {c.queue_id for c in convs if c.queue_id}
        queues = {q.id: q.name for q in s.execute(select(MessageQueue).where(MessageQueue.id.in_(queue_ids))).scalars()} if queue_ids else {}
        contact_ids = {c.contact_id for c in convs if c.contact_id}
        contacts = {c.id: c.display_name for c in s.execute(select(Contact).where(Contact.id.in_(contact_ids))).scalars()} if contact_ids else {}
        # One grouped count for the page: inbound messages after each conversation's read mark.
        behind = [c.id for c in convs if c.last_inbound_message_id and
                  c.last_inbound_message_id > (reads[c.id].last_read_message_id if c.id in reads else 0)]
        counts: dict[int, int] = {}
        if behind:
            last_read = func.coalesce(select(ReadState.last_read_message_id).where(
                ReadState.conversation_id == Message.conversation_id, ReadState.agent_id == agent_id
            ).scalar_subquery(), 0)
            counts = dict(s.execute(select(Message.conversation_id, func.count()).where(
                Message.conversation_id.in_(behind), Message.direction == IN, Message.id > last_read,  # type: ignore[attr-defined]
            ).group_by(Message.conversation_id)).all())
        out = []
        for c in convs:
            ch = self._channel(c.channel_id, s)
            rs = reads.get(c.id)
            unread_count = counts.get(c.id, 0)
            out.append(ConversationView(
                id=c.id, channel_id=c.channel_id, channel_kind=ch.kind, channel_label=self._label(ch),
                customer_address=c.customer_address,
                customer_display=phone.display(c.customer_address) if self._rules(ch).address_kind == "phone" else c.customer_address,
                customer_name=c.customer_name, contact_id=c.contact_id,
                contact_name=contacts.get(c.contact_id) if c.contact_id else None,
                status=c.status, archived=c.archived, assigned_agent_id=c.assigned_agent_id,
                assigned_agent_name=names.get(c.assigned_agent_id) if c.assigned_agent_id else None,
                queue_id=c.queue_id, queue_name=queues.get(c.queue_id) if c.queue_id else None,
                last_activity_at=c.last_activity_at, last_message_preview=c.last_message_preview,
                last_message_direction=c.last_message_direction, unread_count=unread_count,
                unread=unread_count > 0 or bool(rs and rs.marked_unread),
            ))
        return out

    def _message_views(self, s: Session, msgs: Sequence[Message]) -> list[MessageView]:
        if not msgs:
            return []
        ids = [m.id for m in msgs]
        atts: dict[int, list[AttachmentView]] = {}
        for a in s.execute(select(Attachment).where(Attachment.message_id.in_(ids)).order_by(Attachment.id)).scalars():
            atts.setdefault(a.message_id, []).append(attachment_view(a))
        names = self._agent_names(s)
        open_convs = set(s.execute(select(Conversation.id).where(
            Conversation.id.in_({m.conversation_id for m in msgs}), Conversation.status == "open")).scalars())  # type: ignore[union-attr]
        return [message_view(m, atts.get(m.id, []), names, m.conversation_id in open_convs) for m in msgs]

    def _agent_view(self, a: Agent) -> AgentView:
        now = self.clock.now()
        return AgentView(id=a.id, name=a.name, email=a.email, last_seen_at=a.last_seen_at, role=a.role,
                         online=bool(a.last_seen_at and now - a.last_seen_at < ONLINE_FOR))


def attachment_view(a: Attachment) -> AttachmentView:
    return AttachmentView(id=a.id, file_name=a.file_name, mime_type=a.mime_type, size=a.size,
                          sha256=a.sha256, expired=a.expired, expires_at=a.expires_at)


def message_view(m: Message, atts: list[AttachmentView], names: dict[int, str], conv_open: bool) -> MessageView:
    return MessageView(
        id=m.id, conversation_id=m.conversation_id, direction=m.direction, kind=m.kind, text=m.text,
        sender_agent_id=m.sender_agent_id,
        sender_name=names.get(m.sender_agent_id) if m.sender_agent_id else None,
        status=m.status, status_reason=m.status_reason, error_code=m.error_code,
        can_retry=m.status == "failed" and not m.rule_refused and conv_open,
        created_at=m.created_at, attachments=atts, meta=m.meta or {},
    )


def event_view(e: Event) -> EventView:
    return EventView(seq=e.seq, type=e.type, conversation_id=e.conversation_id, message_id=e.message_id,
                     agent_id=e.agent_id, created_at=e.created_at, data=e.data or {})


def preview(text: str, limit: int = 140) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def now_minus(now: datetime, seconds: float) -> datetime:
    return now - timedelta(seconds=seconds)
