"""What a syncing client reads: a snapshot of everything an agent may see, consistent with
the event log's sequence number it was taken at, and the log filtered for that agent,
including a ``conversation.removed`` when a conversation leaves their view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional, Union

from pydantic import BaseModel
from sqlalchemy import ARRAY, BigInteger, Select, bindparam, func, or_, select, true
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.core import events, snapshot_json
from tray_agent.core.base import InboxBase, event_view
from tray_agent.core.models import Conversation, Event, Message
from tray_agent.core.rules import address_display
from tray_agent.core.snapshot_json import dumps
from tray_agent.core.views import AgentView, ChannelView, ConversationView, EventView, MessageView, QueueView

#: The event a client gets when a conversation leaves its view (taken, transferred away).
CONVERSATION_REMOVED = "conversation.removed"
MAX_CONVERSATIONS = 1000
MAX_MESSAGES = 200
#: The snapshot's fields that only its first page carries.
DIRECTORY = ("agents", "queues", "channels")


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event as a replica's tail keeps it in memory: the columns the per-agent filter
    reads, in a slotted record of a few hundred bytes rather than an ORM instance with its
    instance state (a tail of 20,000 of those was most of a busy replica's RSS)."""

    seq: int
    type: str
    conversation_id: Optional[int]
    message_id: Optional[int]
    agent_id: Optional[int]
    visible_agent_id: Optional[int]
    visible_queue_id: Optional[int]
    created_at: Optional[datetime]
    data: dict[str, Any]


#: What the per-agent filter takes: rows of the log as read, or as the tail keeps them.
LogRow = Union[Event, LoggedEvent]


class SyncConversation(ConversationView):
    #: The newest messages, oldest first; older ones page in through the history.
    messages: list[MessageView] = []
    more_messages: bool = False


class Snapshot(BaseModel):
    #: The event log's sequence number this state is consistent with.
    seq: int
    me: AgentView
    my_queue_ids: list[int]
    #: The team's directory: on the first page (``after=0``) only, None on later pages,
    #: which leave them out (a client reads them from the page it takes the cursor from).
    agents: Optional[list[AgentView]] = None
    queues: Optional[list[QueueView]] = None
    channels: Optional[list[ChannelView]] = None
    conversations: list[SyncConversation]
    #: Pass as ``after`` for the next page of conversations; None on the last page.
    next_after: Optional[int] = None

    def to_json(self) -> str:
        """The page as JSON; a later page leaves the directory out rather than sending nulls."""
        return self.model_dump_json(exclude={k for k in DIRECTORY if getattr(self, k) is None} or None)


class Sync(InboxBase):
    def snapshot(self, agent_id: int, *, after: int = 0, limit: int = 200, messages: int = 20) -> Snapshot:
        """One page of the conversations ``agent_id`` sees (by id, after ``after``) with
        their newest ``messages``, in one snapshot transaction that first notes the seq:
        applying the events after it (as upserts) brings the page up to date."""
        limit = max(1, min(limit, MAX_CONVERSATIONS))
        messages = max(0, min(messages, MAX_MESSAGES))
        with self.db.snapshot() as s:
            seq = s.execute(select(func.max(Event.seq))).scalar() or 0
            me = self._agent(s, agent_id)
            queues = self._my_queues(s, agent_id)
            # Plain rows, not ORM instances: a page is read once and turned into views. Read
            # through the session's connection (the same snapshot transaction): the ORM's
            # result layer adds nothing to plain columns but CPU per row.
            q = select(*_columns(Conversation)).where(col(Conversation.id) > after)
            if me.role != "admin":
                q = q.where(self._visible(agent_id, queues))
            convs: list[Any] = list(s.connection().execute(q.order_by(col(Conversation.id)).limit(limit + 1)).all())
            more = len(convs) > limit
            convs = convs[:limit]
            recent = self._recent_messages(s, [c.id for c in convs], messages)
            page = self._conversation_views(s, agent_id, convs, view=SyncConversation, extra={
                cid: {"messages": ms, "more_messages": more_messages} for cid, (ms, more_messages) in recent.items()})
            # My load as GET /sync/v1/me counts it (the desktop shows it beside my status).
            me_view = self._agent_view(me, self._open_counts(s, [agent_id]).get(agent_id, 0))
        snap = Snapshot(seq=seq, me=me_view, my_queue_ids=queues, conversations=page,
                        next_after=convs[-1].id if more and convs else None)
        if after == 0:
            self._directory(snap)
        return snap

    def snapshot_json(self, agent_id: int, *, after: int = 0, limit: int = 200, messages: int = 20) -> tuple[int, str]:
        """``snapshot`` as its JSON text, and its seq. On PostgreSQL the conversations' JSON is
        built by the database in one statement per page (``snapshot_json.py``): the replica
        then neither parses rows nor builds and validates ten thousand views."""
        if self.db.is_sqlite:
            snap = self.snapshot(agent_id, after=after, limit=limit, messages=messages)
            return snap.seq, snap.to_json()
        limit = max(1, min(limit, MAX_CONVERSATIONS))
        messages = max(0, min(messages, MAX_MESSAGES))
        channels: dict[int, tuple[str, Any]] = {}
        with self.db.snapshot() as s:
            seq = s.execute(select(func.max(Event.seq))).scalar() or 0
            me = self._agent(s, agent_id)
            queues = self._my_queues(s, agent_id)

            def channel(cid: int) -> tuple[str, Any]:
                if cid not in channels:
                    ch = self._channel(cid, s)
                    channels[cid] = (f'"channel_kind":{dumps(ch.kind)},"channel_label":{dumps(self._label(ch))}',
                                     self._rules(ch))
                return channels[cid]

            # One conversation more than the page, to learn whether another page follows.
            rows = snapshot_json.conversations(s, agent_id, me.role == "admin", queues, after, limit + 1, messages,
                                               channel, address_display)
            items = [item for _, item in rows[:limit]]
            me_view = self._agent_view(me, self._open_counts(s, [agent_id]).get(agent_id, 0))
        snap = Snapshot(seq=seq, me=me_view, my_queue_ids=queues, conversations=[],
                        next_after=rows[limit - 1][0] if len(rows) > limit else None)
        if after == 0:
            self._directory(snap)
        body = snap.to_json()
        # The conversations key is the last but one (next_after, a number, follows), so its
        # last occurrence is it, whatever a channel's settings hold.
        at = body.rindex('"conversations":[]') + len('"conversations":[')
        return seq, "".join((body[:at], ",".join(items), body[at:]))

    def _directory(self, snap: Snapshot) -> None:
        """The directory once per snapshot, not once per page: ten pages re-read it ten times."""
        snap.agents = self.list_agents()  # type: ignore[attr-defined]  # Admin's: both mixed into Inbox
        snap.queues = self.list_queues()  # type: ignore[attr-defined]  # (as above)
        snap.channels = self.list_channels()  # type: ignore[attr-defined]  # (as above)

    def _recent_messages(self, s: Session, conv_ids: list[int], n: int) -> dict[int, tuple[list[MessageView], bool]]:
        if not conv_ids or n == 0:
            return {}
        rows: list[Any] = list(s.connection().execute(self._newest_messages(conv_ids, n + 1)).all())
        by_conv: dict[int, list[Any]] = {}
        for m in rows:
            by_conv.setdefault(m.conversation_id, []).append(m)
        views = {v.id: v for v in self._message_views(s, rows)}
        return {cid: ([views[m.id] for m in ms[-n:]], len(ms) > n) for cid, ms in by_conv.items()}

    def _newest_messages(self, conv_ids: list[int], n: int) -> Select[Any]:
        """The newest ``n`` messages of each conversation, in id order: one query for the page
        instead of one per conversation."""
        if self.db.is_sqlite:
            rank = func.row_number().over(partition_by=col(Message.conversation_id),
                                          order_by=col(Message.id).desc()).label("rank")
            ranked = select(col(Message.id), rank).where(col(Message.conversation_id).in_(conv_ids)).subquery()
            return select(*_columns(Message)).join(ranked, ranked.c.id == col(Message.id)).where(
                ranked.c.rank <= n).order_by(col(Message.id))
        # PostgreSQL: n steps back along ix_message_conversation per conversation (LATERAL),
        # rather than ranking every message of the page's conversations, however long.
        page = func.unnest(bindparam(None, conv_ids, type_=ARRAY(BigInteger))).table_valued("cid").render_derived(
            name="page")
        newest = select(*_columns(Message)).where(col(Message.conversation_id) == page.c.cid).order_by(
            col(Message.id).desc()).limit(n).lateral("newest")
        return select(newest).select_from(page).join(newest, true()).order_by(newest.c.id)

    def event_bounds(self) -> tuple[int, int]:
        """The oldest and newest sequence numbers the log holds (0, 0 when empty)."""
        with self.db.read() as s:
            lo, hi = s.execute(select(func.min(Event.seq), func.max(Event.seq))).one()
            return lo or 0, hi or 0

    def events_for(self, agent_id: int, after: int, limit: int = 500) -> tuple[list[EventView], int]:
        """The events after ``after`` that ``agent_id`` may see, and the seq read up to (the
        next cursor, past events they may not see). An event that takes a conversation out
        of their view is followed by a ``conversation.removed`` for it."""
        with self.db.read() as s:
            me = self._agent(s, agent_id)
            admin = me.role == "admin"
            queues = set(self._my_queues(s, agent_id))
            # The log's end first, then the rows up to it: seq order is commit order, so
            # nothing at or below it can commit later, and the cursor may move to it even
            # past events this agent may not see.
            end = s.execute(select(func.max(Event.seq))).scalar() or 0
            q = select(Event).where(col(Event.seq) > after, col(Event.seq) <= end)
            if not admin:
                # Transfers and updates (a claim) are read too: either can take a conversation out
                # of this agent's view while being visible to the new owner only.
                q = q.where(or_(events.visible_to(agent_id), col(Event.type).in_(
                    (events.CONVERSATION_TRANSFERRED, events.CONVERSATION_UPDATED))))
            limit = max(1, min(limit, 5000))
            rows = list(s.execute(q.order_by(col(Event.seq)).limit(limit)).scalars())
            upto = rows[-1].seq if len(rows) == limit else end
        return for_agent(rows, agent_id, admin, queues), max(after, upto)

    def agent_scope(self, agent_id: int) -> tuple[bool, set[int]]:
        """What an agent's event filter needs: whether they are an admin, and their queues."""
        with self.db.read() as s:
            return self._is_admin(s, agent_id), set(self._my_queues(s, agent_id))

    def events_tail(self, after: int, limit: int = 5000) -> tuple[list[LoggedEvent], int]:
        """Every event after ``after`` (unfiltered: a replica's shared reader filters them per
        agent in memory), as plain records, and the seq read up to."""
        # One statement: seq order is commit order (``events.serialize_writers``), so what one
        # snapshot shows after ``after`` is every event up to the newest it shows, and the
        # cursor may move to the last row read; a separate max(seq) would cost a round trip.
        with self.db.read() as s:
            read = s.connection().execute(_TAIL, {"after": after, "limit": limit}).all()
        # Built after the transaction: 5,000 records are no reason to hold it open.
        rows = [LoggedEvent(seq=r.seq, type=r.type, conversation_id=r.conversation_id, message_id=r.message_id,
                            agent_id=r.agent_id, visible_agent_id=r.visible_agent_id,
                            visible_queue_id=r.visible_queue_id, created_at=r.created_at, data=r.data or {})
                for r in read]
        return rows, (rows[-1].seq if rows else after)


#: The tail's read, built once (a statement per wake-up of every replica).
_TAIL = select(*(getattr(Event, f) for f in LoggedEvent.__slots__)).where(
    col(Event.seq) > bindparam("after")).order_by(col(Event.seq)).limit(bindparam("limit"))


def _columns(model: type) -> list[Any]:
    """A table's columns, to read rows whose fields are named as the model's attributes."""
    return list(model.__table__.columns)  # type: ignore[attr-defined]  # set by the metaclass of table=True models


def for_agent(rows: Sequence[LogRow], agent_id: int, admin: bool, queues: set[int],
              view: Callable[[Any], EventView] = event_view) -> list[EventView]:
    """The events of ``rows`` this agent may see, with removals where one leaves their view.
    ``view``: an event's view (a replica's tail builds each once for all its streams)."""
    out: list[EventView] = []
    for e in rows:
        out.extend(_for_agent(e, agent_id, admin, queues, view))
    return out


def _sees(agent_id: int, admin: bool, queues: set[int], owner: int | None, queue: int | None) -> bool:
    if admin:
        return True
    if owner is not None:
        return owner == agent_id
    return queue is None or queue in queues


def _for_agent(e: LogRow, agent_id: int, admin: bool, queues: set[int],
               view: Callable[[Any], EventView]) -> list[EventView]:
    data: dict[str, Any] = e.data or {}
    personal = e.visible_agent_id is not None and e.visible_queue_id is None and data.get("change") in ("read", "unread")
    if e.conversation_id is None or personal:
        # Not about a conversation's visibility: theirs, or everyone's (a read mark is its agent's).
        mine = e.visible_agent_id in (None, agent_id) or e.agent_id == agent_id
        return [view(e)] if mine else []
    after = _sees(agent_id, admin, queues, e.visible_agent_id,
                  e.visible_queue_id if e.visible_agent_id is None else None)
    before = _sees(agent_id, admin, queues, data["prev_agent_id"], data.get("prev_queue_id")) \
        if "prev_agent_id" in data else after
    out = [view(e)] if after or before or e.agent_id == agent_id else []
    if before and not after:
        out.append(EventView(seq=e.seq, type=CONVERSATION_REMOVED, conversation_id=e.conversation_id,
                             agent_id=e.agent_id, created_at=e.created_at,
                             data={"reason": e.type if e.type != events.CONVERSATION_UPDATED else data.get("change"),
                                   **({"client_key": data["client_key"]} if "client_key" in data else {})}))
    return out
