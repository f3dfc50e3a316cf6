"""Reading the inbox: the list with its filters and keyset pagination, a conversation's
whole history, full-text search, and the event log."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path

from sqlalchemy import ColumnElement, and_, column, func, or_, select, table, text
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.core.base import ChannelSnapshot, InboxBase, attachment_view, event_view
from tray_agent.core.clock import utc
from tray_agent.core.errors import FileExpired, InvalidInput, NotFound
from tray_agent.core import events
from tray_agent.core.models import Attachment, Contact, ContactPoint, Conversation, Event, Message, ReadState
from tray_agent.core import rules as R
from tray_agent.core import search_text
from tray_agent.core.views import (
    FILTERS, AttachmentView, ComposerState, ContactView, ConversationDetail, ConversationView, EventView, InboxPage,
    MessagePage, MessageView,
    RelatedConversation, SearchHit,
)

MAX_PAGE = 200


class Queries(InboxBase):
    def list_inbox(self, agent_id: int, filter: str = "all", *, channel_id: int | None = None,
                   limit: int = 50, cursor: str | None = None) -> InboxPage:
        """The conversations an agent sees, most recently active first."""
        if filter not in FILTERS:
            raise InvalidInput(f"Unknown filter {filter!r}; use one of {', '.join(FILTERS)}.")
        limit = max(1, min(limit, MAX_PAGE))
        with self.db.read() as s:
            queues = self._my_queues(s, agent_id)
            q = select(Conversation).where(self._visible(agent_id, queues))
            q = q.where(col(Conversation.archived).is_(filter == "archived"))
            if filter == "mine":
                q = q.where(col(Conversation.assigned_agent_id) == agent_id)
            elif filter == "unassigned":
                q = q.where(col(Conversation.assigned_agent_id).is_(None))
            elif filter == "unread":
                rs = select(col(ReadState.last_read_message_id)).where(
                    col(ReadState.conversation_id) == col(Conversation.id), col(ReadState.agent_id) == agent_id).scalar_subquery()
                marked = select(col(ReadState.marked_unread)).where(
                    col(ReadState.conversation_id) == col(Conversation.id), col(ReadState.agent_id) == agent_id).scalar_subquery()
                q = q.where(or_(col(Conversation.last_inbound_message_id) > func.coalesce(rs, 0), marked.is_(True)))
            if channel_id is not None:
                q = q.where(col(Conversation.channel_id) == channel_id)
            if cursor:
                at, cid = _decode_cursor(cursor)
                q = q.where(or_(col(Conversation.last_activity_at) < at,
                                and_(col(Conversation.last_activity_at) == at, col(Conversation.id) < cid)))
            q = q.order_by(col(Conversation.last_activity_at).desc(), col(Conversation.id).desc()).limit(limit + 1)
            rows = list(s.execute(q).scalars())
            more = len(rows) > limit
            rows = rows[:limit]
            nxt = _encode_cursor(rows[-1].last_activity_at, rows[-1].id) if more and rows else None
            return InboxPage(items=self._conversation_views(s, agent_id, rows), next_cursor=nxt)

    def unread_summary(self, agent_id: int) -> tuple[int, list[int]]:
        """How many unread conversations the agent has, and the five most recent ids (tray)."""
        page = self.list_inbox(agent_id, "unread", limit=5)
        with self.db.read() as s:
            queues = self._my_queues(s, agent_id)
            rs = select(col(ReadState.last_read_message_id)).where(
                col(ReadState.conversation_id) == col(Conversation.id), col(ReadState.agent_id) == agent_id).scalar_subquery()
            marked = select(col(ReadState.marked_unread)).where(
                col(ReadState.conversation_id) == col(Conversation.id), col(ReadState.agent_id) == agent_id).scalar_subquery()
            count = s.execute(select(func.count()).select_from(Conversation).where(
                self._visible(agent_id, queues), col(Conversation.archived).is_(False),
                or_(col(Conversation.last_inbound_message_id) > func.coalesce(rs, 0), marked.is_(True)))).scalar_one()
        return count, [c.id for c in page.items]

    def get_conversation(self, agent_id: int, conversation_id: int) -> ConversationDetail:
        with self.db.read() as s:
            conv = self._conversation(s, agent_id, conversation_id)
            view = self._conversation_views(s, agent_id, [conv])[0]
            ch = self._channel(conv.channel_id, s)
            rules = self._rules(ch)
            others = list(s.execute(select(Conversation).where(
                self._related(s, conv), col(Conversation.id) != conv.id).order_by(col(Conversation.id).desc())).scalars())
            related = [RelatedConversation(
                id=o.id, channel_id=o.channel_id, channel_label=self._label(self._channel(o.channel_id, s)),
                status=o.status, started_at=o.created_at) for o in others]
            return ConversationDetail(**view.model_dump(), rules=rules.to_dict(),
                                      composer=self._composer(conv, ch, agent_id),
                                      earlier_conversation_ids=[o.id for o in others], related=related)

    def glance(self, agent_id: int, conversation_id: int,
               message_id: int | None = None) -> tuple[ConversationView, MessageView | None]:
        """A conversation's list row and one of its messages (None if not there), in one
        read: what a notification names, without the detail's history and composer."""
        with self.db.read() as s:
            conv = self._conversation(s, agent_id, conversation_id)
            msg = s.get(Message, message_id) if message_id is not None else None
            msgs = self._message_views(s, [msg]) if msg is not None and msg.conversation_id == conv.id else []
            return self._conversation_views(s, agent_id, [conv])[0], (msgs[0] if msgs else None)

    def _composer(self, conv: Conversation, ch: ChannelSnapshot, agent_id: int) -> ComposerState:
        rules = self._rules(ch)
        closes = R.window_closes_at(rules, conv.last_inbound_at)
        state = ComposerState(can_reply=True, window_closes_at=closes, max_file_bytes=rules.max_file_bytes,
                              must_claim=conv.assigned_agent_id is None)
        if self._type(ch) is None:
            state.can_reply, state.reason = False, f"The {ch.kind!r} channel plugin is not installed."
        elif conv.status != "open":
            state.can_reply, state.reason = False, "This conversation is closed; reopen it to reply."
        elif conv.assigned_agent_id not in (None, agent_id):
            state.can_reply, state.reason = False, "A colleague is handling this conversation."
        elif (kind := R.address_kind(rules, conv.customer_address)) is not None and not kind.replyable:
            state.can_reply = False
            state.reason = kind.not_replyable_reason.format(address=conv.customer_address)
        elif rules.reply_window is not None and not (conv.started_by == "agent" and conv.last_inbound_at is None):
            try:
                R.check_reply(rules, conv.last_inbound_at, self.clock.now())
            except R.RuleViolation as exc:
                state.can_reply, state.reason = False, exc.message
        return state

    def _related(self, s: Session, conv: Conversation) -> ColumnElement[bool]:
        """The customer's conversations: same channel and address, or the same saved contact."""
        same = and_(col(Conversation.channel_id) == conv.channel_id, col(Conversation.customer_address) == conv.customer_address)
        return or_(same, col(Conversation.contact_id) == conv.contact_id) if conv.contact_id else same

    def history(self, agent_id: int, conversation_id: int, *, before: int | None = None,
                limit: int = 50) -> MessagePage:
        """The customer's whole history, newest page first (each page oldest-first), including
        earlier closed conversations, transfers, calls and other system events."""
        limit = max(1, min(limit, MAX_PAGE))
        with self.db.read() as s:
            conv = self._conversation(s, agent_id, conversation_id)
            conv_ids = list(s.execute(select(col(Conversation.id)).where(self._related(s, conv))).scalars())
            # One ordered index range per conversation, merged here: an IN-list would make
            # the database sort every message of a long conversation.
            rows: list[Message] = []
            for cid in conv_ids:
                q = select(Message).where(col(Message.conversation_id) == cid)
                if before is not None:
                    q = q.where(col(Message.id) < before)
                rows.extend(s.execute(q.order_by(col(Message.id).desc()).limit(limit + 1)).scalars())
            rows.sort(key=lambda m: m.id, reverse=True)
            more = len(rows) > limit
            rows = rows[:limit]
            rows.reverse()
            return MessagePage(items=self._message_views(s, rows), next_before=rows[0].id if more and rows else None)

    def search(self, agent_id: int, query: str, *, limit: int = 50, before: int | None = None) -> list[SearchHit]:
        """Messages whose text contains every word of ``query``, newest first. The last word
        matches as a prefix while it is being typed ("ord" finds "order"), as does any word
        ending in ``*``; a CJK word is found inside a sentence, and emoji are words too."""
        terms = search_text.parse(query)
        limit = max(1, min(limit, MAX_PAGE))
        with self.db.read() as s:
            queues = self._my_queues(s, agent_id)
            if self.db.is_sqlite:
                # Drive the query from the FTS index in rowid order: FTS5 walks its doclist
                # newest first and stops at the limit, however common the word is (prefixes
                # of 2-6 characters have their own index, so "ord" is as cheap as "order").
                fts = table("message_fts", column("rowid"))
                q = (select(Message, Conversation).select_from(fts)
                     .join(Message, col(Message.id) == fts.c.rowid)
                     .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
                     .where(text("message_fts MATCH :m"), self._visible(agent_id, queues)))
                if before is not None:
                    q = q.where(fts.c.rowid < before)
                q = q.order_by(fts.c.rowid.desc())
                params = {"m": search_text.sqlite_match(terms)}
            else:
                q = (select(Message, Conversation).join(Conversation, col(Conversation.id) == col(Message.conversation_id))
                     .where(text("to_tsvector('simple', tray_index_text(message.text)) @@ to_tsquery('simple', :m)"),
                            self._visible(agent_id, queues)))
                if before is not None:
                    q = q.where(col(Message.id) < before)
                q = q.order_by(col(Message.id).desc())
                params = {"m": search_text.postgres_tsquery(terms)}
            rows = s.execute(q.limit(limit), params).all()
            msgs = self._message_views(s, [m for m, _ in rows])
            convs = {c.id: c for c in self._conversation_views(s, agent_id, list({c.id: c for _, c in rows}.values()))}
            return [SearchHit(message=m, conversation=convs[m.conversation_id]) for m in msgs]

    def attachment_file(self, agent_id: int, attachment_id: int,
                        conversation_id: int | None = None) -> tuple[AttachmentView, Path]:
        """A file of a conversation the agent sees (``conversation_id``, when given, must be
        the one it belongs to), and where it lies on disk (downloads)."""
        with self.db.read() as s:
            a = s.get(Attachment, attachment_id)
            msg = s.get(Message, a.message_id) if a is not None else None
            if a is None or msg is None or conversation_id not in (None, msg.conversation_id):
                raise NotFound(f"There is no file {attachment_id}.")
            self._conversation(s, agent_id, msg.conversation_id)
            if a.expired or not a.storage_path:
                raise FileExpired(f"{a.file_name!r} has expired and was deleted.")
            return attachment_view(a), self.files.path(a.storage_path)

    def list_contacts(self, agent_id: int, query: str = "", limit: int = 20) -> list[ContactView]:
        """Saved contacts whose name contains ``query`` (to add a number to one of them)."""
        limit = max(1, min(limit, MAX_PAGE))
        with self.db.read() as s:
            q = select(Contact).order_by(col(Contact.display_name), col(Contact.id)).limit(limit)
            if query.strip():
                q = q.where(col(Contact.display_name).ilike(f"%{query.strip()}%"))
            contacts = list(s.execute(q).scalars())
            points: dict[int, list[dict[str, str]]] = {}
            for p in s.execute(select(ContactPoint).where(
                    col(ContactPoint.contact_id).in_([c.id for c in contacts]))).scalars():
                points.setdefault(p.contact_id, []).append({"kind": p.kind, "address": p.address})
            return [ContactView(id=c.id, display_name=c.display_name, points=points.get(c.id, []))
                    for c in contacts]

    def events_since(self, agent_id: int, after_seq: int = 0, limit: int = 500) -> list[EventView]:
        """Committed events this agent may see, after ``after_seq``, in order."""
        with self.db.read() as s:
            rows = s.execute(select(Event).where(col(Event.seq) > after_seq, events.visible_to(agent_id))
                             .order_by(col(Event.seq)).limit(max(1, min(limit, 5000)))).scalars()
            return [event_view(e) for e in rows]

    def last_seq(self) -> int:
        with self.db.read() as s:
            return s.execute(select(func.max(col(Event.seq)))).scalar() or 0


def _encode_cursor(at: datetime | None, cid: int | None) -> str:
    raw = f"{(at or datetime.min).isoformat()}|{cid}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, cid = raw.rsplit("|", 1)
        return utc(datetime.fromisoformat(at)), int(cid)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("That page cursor is malformed; start from the first page.") from None


