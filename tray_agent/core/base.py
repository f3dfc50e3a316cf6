"""What every part of the service layer shares: the store, the clock, the channel types,
visibility rules, the after-commit publication, the writes more than one part makes
(opening a conversation, attaching a file, system messages, closing) and the building of views.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from sqlalchemy import ARRAY, BigInteger, ColumnElement, and_, any_, bindparam, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.channels import ChannelType
from tray_agent.core import events
from tray_agent.core.clock import Clock
from tray_agent.core.db import Database
from tray_agent.core.errors import InvalidInput, NotFound
from tray_agent.core.events import EventBus
from tray_agent.core.files import FileStore, StagedFile
from tray_agent.core.models import (
    IN, OUT, SYSTEM, Agent, Attachment, Channel, Contact, ContactPoint, Conversation, Event, Message,
    MessageQueue, QueueMember, ReadState,
)
from tray_agent.core.presence import presence_of
from tray_agent.core.rules import ChannelRules, address_display, effective_auto_close, normalize_address
from tray_agent.core.views import (
    AgentView, AttachmentView, ConversationView, EventView, MessageView,
)

if TYPE_CHECKING:
    from tray_agent.core.sync import LoggedEvent

V = TypeVar("V", bound=ConversationView)

#: Rules for a channel whose plugin is missing: nothing can be sent until it is back.
MISSING_RULES = ChannelRules(business_can_start=False)
ONLINE_FOR = timedelta(minutes=2)
#: Seconds a cached channel serves before it is read again. This process forgets its own
#: changes at once; one another process made (the console's ``server channel set``, the admin
#: view on another replica) is invalidated by nothing here, so it applies within this.
CHANNEL_FRESH_FOR = 2.0


@dataclass(frozen=True)
class ChannelSnapshot:
    """A channel's row as it was read, shared by every request: a plain value, never an ORM
    instance, so no session's rollback or close can expire it under another request."""

    id: int
    kind: str
    name: str
    business_address: str
    settings: dict[str, Any] = field(default_factory=dict)
    route_agent_id: int | None = None
    route_queue_id: int | None = None
    auto_close_seconds: int | None = None
    enabled: bool = True
    healthy: bool | None = None
    health_detail: str = ""
    created_at: datetime | None = None

    @classmethod
    def of(cls, ch: Channel) -> "ChannelSnapshot":
        return cls(id=ch.id, kind=ch.kind, name=ch.name, business_address=ch.business_address,
                   settings=copy.deepcopy(ch.settings or {}), route_agent_id=ch.route_agent_id,
                   route_queue_id=ch.route_queue_id, auto_close_seconds=ch.auto_close_seconds,
                   enabled=ch.enabled, healthy=ch.healthy, health_detail=ch.health_detail,
                   created_at=ch.created_at)


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
        #: Wakes the outbox: after a commit that may have queued something to send. Customer
        #: messages alone cannot, and they are most commits of a busy server.
        self.sends = EventBus()
        self.on_commit = on_commit
        self._channels: dict[int, tuple[float, ChannelSnapshot]] = {}  # id → (monotonic read time, snapshot)
        self._channels_lock = threading.Lock()

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def _tx(self, *, after_commit: bool = True) -> Iterator[tuple[Session, list[Event]]]:
        """A write transaction; events appended to the list are published after commit.
        ``after_commit=False``: the caller does ``_after_commit``'s work itself (the batch
        ingest learns from its own statement which queues wait for an assignment)."""
        written: list[Event] = []
        with self.db.write() as s:
            # The event log's writer lock first, before any row lock: a writer that locked a
            # row (a contact, a conversation) and then waited for it would deadlock against
            # one holding it and waiting for that row. Rolled back, it notifies nobody.
            events.serialize_writers(s)
            yield s, written
        if written:
            self._publish(written)
            if after_commit:
                self._after_commit(written)

    def _after_commit(self, written: Sequence[Event]) -> None:
        """Work that follows a commit in the same process (automatic assignment: ``assign.py``)."""

    def _publish(self, written: Sequence[Event]) -> None:
        seq = max(e.seq for e in written)
        self.bus.published(seq)
        if not all(_inbound(e) for e in written):
            self.sends.published(seq)
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

    def _channel(self, channel_id: int, s: Session | None = None) -> ChannelSnapshot:
        """The channel as a cached snapshot (read in ``s`` when not cached yet)."""
        read_at = time.monotonic()  # operational freshness, not business time: not the injectable clock
        with self._channels_lock:
            cached = self._channels.get(channel_id)
        if cached is not None and read_at - cached[0] < CHANNEL_FRESH_FOR:
            return cached[1]
        if s is None:
            with self.db.read() as rs:
                ch = rs.get(Channel, channel_id)
                snap = ChannelSnapshot.of(ch) if ch is not None else None
        else:
            # Copied now, inside the caller's transaction: if that transaction rolls back,
            # the ORM instance is expired and detached, but the snapshot stays valid.
            ch = s.get(Channel, channel_id)
            snap = ChannelSnapshot.of(ch) if ch is not None else None
        if snap is None:
            raise NotFound(f"There is no channel {channel_id}.")
        with self._channels_lock:
            self._channels[channel_id] = (read_at, snap)
        return snap

    def _forget_channel(self, channel_id: int) -> None:
        with self._channels_lock:
            self._channels.pop(channel_id, None)

    def _type(self, ch: Channel | ChannelSnapshot) -> ChannelType | None:
        return self.channel_types.get(ch.kind)

    def _rules(self, ch: Channel | ChannelSnapshot) -> ChannelRules:
        """The rules as they apply to this channel: its type's, with the administrator's
        idle-closure time where the type lets one be set (what the window shows)."""
        t = self._type(ch)
        if t is None:
            return MISSING_RULES
        if ch.auto_close_seconds is None or not t.rules.auto_close_configurable:
            return t.rules
        return replace(t.rules, auto_close_after=effective_auto_close(
            t.rules, timedelta(seconds=ch.auto_close_seconds)))

    def _label(self, ch: Channel | ChannelSnapshot) -> str:
        t = self._type(ch)
        return t.label if t else ch.kind

    def _normalize_address(self, rules: ChannelRules, raw: str) -> str:
        return normalize_address(rules, raw)

    def _in(self, column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
        """``column IN ids``. On PostgreSQL one array parameter (``= ANY``): a page's thousand
        ids then make one short statement the driver parses once, not a thousand
        placeholders in a new statement each time."""
        ids = list(ids)
        if self.db.is_sqlite:
            return column.in_(ids)
        return column == any_(bindparam(None, ids, type_=ARRAY(BigInteger)))

    # -- visibility -----------------------------------------------------------------

    def _my_queues(self, s: Session, agent_id: int) -> list[int]:
        return list(s.execute(select(col(QueueMember.queue_id)).where(col(QueueMember.agent_id) == agent_id)).scalars())

    def _visible(self, agent_id: int, queues: list[int]) -> Any:
        """Conversations an agent sees: their own, and unassigned ones routed to their queues
        (or to no queue at all)."""
        unassigned = col(Conversation.assigned_agent_id).is_(None)
        if queues:
            routed = or_(col(Conversation.queue_id).is_(None), col(Conversation.queue_id).in_(queues))
        else:
            routed = col(Conversation.queue_id).is_(None)
        return or_(col(Conversation.assigned_agent_id) == agent_id, and_(unassigned, routed))

    def _conversation(self, s: Session, agent_id: int, conversation_id: int, *,
                      for_update: bool = False) -> Conversation:
        if for_update:
            events.serialize_writers(s)  # the event log's writer lock before the row's (events.py)
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

    # -- writes that more than one part makes ------------------------------------------

    def _attach(self, s: Session, message_id: int, f: StagedFile, rules: ChannelRules, now: datetime) -> Attachment:
        rel = self.files.adopt(f)
        a = Attachment(message_id=message_id, file_name=f.file_name, mime_type=f.mime_type, size=f.size,
                       sha256=f.sha256, storage_path=rel, created_at=now,
                       expires_at=now + rules.file_retention)
        s.add(a)
        s.flush()
        return a

    def _open_conversation(self, s: Session, out: list[Event], ch: Channel | ChannelSnapshot, address: str,
                           customer_name: str | None, now: datetime, *, started_by: str = "customer",
                           agent_id: int | None = None) -> Conversation:
        """The open conversation with this customer on this channel, or a new routed one."""
        # The log's writer lock before the conversation's row and the channel's key lock that
        # its insert takes: a writer holding the lock and waiting on those would deadlock.
        events.serialize_writers(s)
        conv = s.execute(select(Conversation).where(
            col(Conversation.channel_id) == ch.id, col(Conversation.customer_address) == address,
            col(Conversation.status) == "open")).scalar_one_or_none()
        if conv is not None:
            return conv
        contact_id = s.execute(select(col(ContactPoint.contact_id)).where(
            col(ContactPoint.address) == address)).scalars().first()
        conv = Conversation(
            channel_id=ch.id, customer_address=address, customer_name=customer_name, contact_id=contact_id,
            assigned_agent_id=agent_id if agent_id is not None else ch.route_agent_id,
            queue_id=ch.route_queue_id, started_by=started_by, created_at=now, last_activity_at=now,
        )
        s.add(conv)
        s.flush()
        self._emit(s, out, events.CONVERSATION_CREATED, conv, started_by=started_by)
        return conv

    def _system_message(self, s: Session, out: list[Event], conv: Conversation, kind: str, text: str,
                        agent_id: int | None, *, meta: dict[str, Any] | None = None, touch: bool = True) -> Message:
        now = self.clock.now()
        msg = Message(conversation_id=conv.id, channel_id=conv.channel_id, direction=SYSTEM, kind=kind,
                      text=text, sender_agent_id=agent_id, created_at=now, meta=meta or {})
        s.add(msg)
        s.flush()
        conv.last_message_id = msg.id
        if touch:
            conv.last_activity_at = now
        self._emit(s, out, events.MESSAGE_CREATED, conv, message_id=msg.id, direction=SYSTEM, kind=kind,
                   agent_id=agent_id)
        return msg

    def _close(self, s: Session, out: list[Event], conv: Conversation, text: str, agent_id: int | None) -> None:
        conv.status, conv.closed_at = "closed", self.clock.now()
        self._system_message(s, out, conv, "closed", text, agent_id, touch=False)
        self._emit(s, out, events.CONVERSATION_UPDATED, conv, agent_id=agent_id, change="closed")

    # -- views ----------------------------------------------------------------------

    def _agent_names(self, s: Session) -> dict[int, str]:
        return {a.id: a.name for a in s.execute(select(col(Agent.id), col(Agent.name))).all()}

    @overload
    def _conversation_views(self, s: Session, agent_id: int, convs: Sequence[Conversation]) -> list[ConversationView]:
        ...

    @overload
    def _conversation_views(self, s: Session, agent_id: int, convs: Sequence[Conversation], *, view: type[V],
                            extra: Mapping[int, dict[str, Any]] | None = None) -> list[V]:
        ...

    def _conversation_views(self, s: Session, agent_id: int, convs: Sequence[Conversation], *,
                            view: type[Any] = ConversationView,
                            extra: Mapping[int, dict[str, Any]] | None = None) -> list[Any]:
        """Views of ``convs`` (ORM rows or plain rows with the same fields) for ``agent_id``;
        ``view`` may be a subclass whose further fields ``extra`` gives per conversation id."""
        if not convs:
            return []
        ids = [c.id for c in convs]
        reads = {r.conversation_id: r for r in s.execute(
            select(ReadState).where(col(ReadState.agent_id) == agent_id, self._in(col(ReadState.conversation_id), ids))
        ).scalars()}
        names = self._agent_names(s)
        queue_ids = {c.queue_id for c in convs if c.queue_id}
        queues = {q.id: q.name for q in s.execute(
            select(MessageQueue).where(self._in(col(MessageQueue.id), queue_ids))).scalars()} if queue_ids else {}
        contact_ids = {c.contact_id for c in convs if c.contact_id}
        contacts = {c.id: c.display_name for c in s.execute(
            select(Contact).where(self._in(col(Contact.id), contact_ids))).scalars()} if contact_ids else {}
        # One grouped count for the page: inbound messages after each conversation's read mark.
        behind = [c.id for c in convs if c.last_inbound_message_id and
                  c.last_inbound_message_id > (reads[c.id].last_read_message_id if c.id in reads else 0)]
        counts: dict[int, int] = {}
        if behind:
            last_read = func.coalesce(select(col(ReadState.last_read_message_id)).where(
                col(ReadState.conversation_id) == col(Message.conversation_id), col(ReadState.agent_id) == agent_id
            ).scalar_subquery(), 0)
            counts = dict(s.execute(select(col(Message.conversation_id), func.count()).where(
                self._in(col(Message.conversation_id), behind), col(Message.direction) == IN, col(Message.id) > last_read,
            ).group_by(col(Message.conversation_id))).all())
        # Who wrote each last reply: the newest outbound message, found backwards along
        # ix_message_conversation (system messages such as a transfer may come after it).
        replied = [c.id for c in convs if c.last_message_direction == OUT]
        senders: dict[int, int | None] = {}
        if replied:
            last_sender = select(col(Message.sender_agent_id)).where(
                col(Message.conversation_id) == col(Conversation.id), col(Message.direction) == OUT,
            ).order_by(col(Message.id).desc()).limit(1).scalar_subquery()
            senders = dict(s.execute(select(col(Conversation.id), last_sender).where(
                self._in(col(Conversation.id), replied))).all())
        # A page's conversations share a few channels: their kind, label and rules once each.
        chans: dict[int, tuple[str, str, ChannelRules]] = {}
        for cid in {c.channel_id for c in convs}:
            ch = self._channel(cid, s)
            chans[cid] = (ch.kind, self._label(ch), self._rules(ch))
        out = []
        for c in convs:
            kind, label, rules = chans[c.channel_id]
            sender = senders.get(c.id)
            rs = reads.get(c.id)
            unread_count = counts.get(c.id, 0)
            out.append(view(
                id=c.id, channel_id=c.channel_id, channel_kind=kind, channel_label=label,
                customer_address=c.customer_address,
                customer_display=address_display(rules, c.customer_address),
                customer_name=c.customer_name, contact_id=c.contact_id,
                contact_name=contacts.get(c.contact_id) if c.contact_id else None,
                status=c.status, archived=c.archived, assigned_agent_id=c.assigned_agent_id,
                assigned_agent_name=names.get(c.assigned_agent_id) if c.assigned_agent_id else None,
                queue_id=c.queue_id, queue_name=queues.get(c.queue_id) if c.queue_id else None,
                last_activity_at=c.last_activity_at, last_message_preview=c.last_message_preview,
                last_message_direction=c.last_message_direction, unread_count=unread_count,
                last_message_sender_id=sender, last_message_sender_name=names.get(sender) if sender else None,
                unread=unread_count > 0 or bool(rs and rs.marked_unread), **(extra or {}).get(c.id, {}),
            ))
        return out

    def _message_views(self, s: Session, msgs: Sequence[Message]) -> list[MessageView]:
        if not msgs:
            return []
        ids = [m.id for m in msgs]
        atts: dict[int, list[AttachmentView]] = {}
        for a in s.execute(select(Attachment).where(self._in(col(Attachment.message_id), ids))
                           .order_by(col(Attachment.id))).scalars():
            atts.setdefault(a.message_id, []).append(attachment_view(a))
        names = self._agent_names(s)
        open_convs = set(s.execute(select(col(Conversation.id)).where(
            self._in(col(Conversation.id), {m.conversation_id for m in msgs}), col(Conversation.status) == "open")).scalars())
        return [message_view(m, atts.get(m.id, []), names, m.conversation_id in open_convs) for m in msgs]

    def _open_counts(self, s: Session, agent_ids: list[int] | None = None) -> dict[int, int]:
        """Open conversations assigned to each agent."""
        q = select(col(Conversation.assigned_agent_id), func.count()).where(
            col(Conversation.status) == "open", col(Conversation.assigned_agent_id).is_not(None))
        if agent_ids is not None:
            q = q.where(col(Conversation.assigned_agent_id).in_(agent_ids))
        return {aid: n for aid, n in s.execute(q.group_by(col(Conversation.assigned_agent_id))).all() if aid is not None}

    def _agent_view(self, a: Agent, open_count: int = 0) -> AgentView:
        now = self.clock.now()
        return AgentView(id=a.id, name=a.name, email=a.email, last_seen_at=a.last_seen_at, role=a.role,
                         online=bool(a.last_seen_at and now - a.last_seen_at < ONLINE_FOR),
                         status=a.status, presence=presence_of(a.status, a.last_seen_at, now), open_count=open_count)


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


def _inbound(e: "Event | LoggedEvent") -> bool:
    """A customer's message, or the conversation it opened: nothing for the outbox."""
    data = e.data or {}
    return ((e.type == events.MESSAGE_CREATED and data.get("direction") == IN)
            or (e.type == events.CONVERSATION_CREATED and data.get("started_by") == "customer"))


def event_view(e: Event | LoggedEvent) -> EventView:
    return EventView(seq=e.seq, type=e.type, conversation_id=e.conversation_id, message_id=e.message_id,
                     agent_id=e.agent_id, created_at=e.created_at, data=e.data or {})


def agent_extension(raw: str | None) -> str | None:
    """An agent's PBX extension as stored (the phone a click-to-call rings first; it reaches a
    call handler's dial string): digits only, at most 12; empty is none."""
    ext = (raw or "").strip() or None
    if ext is not None and not (ext.isdigit() and len(ext) <= 12):
        raise InvalidInput(f"An extension is the PBX's number for the agent's phone, digits only, not {ext!r}.")
    return ext


def preview(text: str, limit: int = 140) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
