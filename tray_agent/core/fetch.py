"""A batch read for syncing desktops: the conversations and messages a run of thin events
named, and the whole history of those new to the desktop, in one read transaction with a
statement per kind of row (not per conversation), visibility enforced (the rest left out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from tray_agent.core.base import InboxBase
from tray_agent.core.models import Conversation, Message
from tray_agent.core.views import ConversationView, MessageView, RelatedConversation

MAX_IDS = 1000
#: The most of a customer's history one fetch brings per conversation (older: page back).
HISTORY = 500
#: The most conversations one fetch brings the history of.
MAX_HISTORIES = 50


class History(BaseModel):
    """A conversation new to the desktop: the customer's history and its earlier sessions."""

    conversation_id: int
    messages: list[MessageView]  # oldest first
    related: list[RelatedConversation]
    next_before: int | None = None


class Fetched(BaseModel):
    conversations: list[ConversationView]
    messages: list[MessageView]
    histories: list[History] = []


class Fetch(InboxBase):
    def fetch(self, agent_id: int, conversation_ids: list[int], message_ids: list[int],
              history_ids: list[int] | None = None) -> Fetched:
        """The views of the named rows this agent sees now; unknown and invisible ids are
        omitted. ``history_ids`` (among ``conversation_ids``): conversations new to the
        desktop, whose whole history (up to ``HISTORY`` messages, earlier sessions too)
        comes along, as ``history`` and ``get_conversation``'s ``related`` give it."""
        cids, mids = sorted(set(conversation_ids))[:MAX_IDS], sorted(set(message_ids))[:MAX_IDS]
        with self.db.read() as s:
            seen = None if self._is_admin(s, agent_id) else self._visible(agent_id, self._my_queues(s, agent_id))
            convs: list[Conversation] = []
            if cids:
                q = select(Conversation).where(self._in(col(Conversation.id), cids)).order_by(col(Conversation.id))
                convs = list(s.execute(q if seen is None else q.where(seen)).scalars())
            msgs: list[Any] = []
            if mids:
                q2 = select(Message).join(Conversation, col(Conversation.id) == col(Message.conversation_id)) \
                    .where(self._in(col(Message.id), mids))
                msgs = list(s.execute((q2 if seen is None else q2.where(seen)).order_by(col(Message.id))).scalars())
            views = self._conversation_views(s, agent_id, convs)
            wanted = set(history_ids or [])
            new = [c for c in convs if c.id in wanted][:MAX_HISTORIES]
            related, pages = self._histories(s, new)
            # One pass of message views for the named messages and every history's.
            rows = {m.id: m for m in msgs}
            for page, _more in pages.values():
                rows.update((m.id, m) for m in page)
            mviews = {v.id: v for v in self._message_views(s, list(rows.values()))}
            histories = []
            for c in new:
                page, more = pages[c.id]
                histories.append(History(conversation_id=c.id, messages=[mviews[m.id] for m in page],
                                         related=related[c.id], next_before=page[0].id if more and page else None))
            return Fetched(conversations=views, messages=[mviews[m.id] for m in msgs], histories=histories)

    def _histories(self, s: Session, convs: Sequence[Conversation]
                   ) -> tuple[dict[int, list[RelatedConversation]], dict[int, tuple[list[Any], bool]]]:
        """For each of ``convs``: the customer's other conversations (newest first, as the
        detail's ``related``) and the newest ``HISTORY`` messages of all of them (oldest
        first, and whether older ones remain), as ``history`` pages them. Two statements
        for all: the customers' conversations, then each one's newest messages."""
        if not convs:
            return {}, {}
        same = or_(*(self._related(s, c) for c in convs))  # type: ignore[attr-defined]  # Queries', mixed into Inbox
        others = list(s.execute(select(Conversation).where(same).order_by(col(Conversation.id).desc())).scalars())
        mine = {c.id: [o for o in others if _same_customer(c, o)] for c in convs}
        # Each conversation's newest messages once, however many histories share it (one
        # ordered index range each, as ``history`` reads them).
        q = self._newest_messages([o.id for o in others], HISTORY + 1)  # type: ignore[attr-defined]  # Sync's, mixed in
        newest: list[Any] = list(s.connection().execute(q).all())
        by_conv: dict[int, list[Any]] = {}
        for m in newest:
            by_conv.setdefault(m.conversation_id, []).append(m)
        related: dict[int, list[RelatedConversation]] = {}
        pages: dict[int, tuple[list[Any], bool]] = {}
        for c in convs:
            related[c.id] = [RelatedConversation(
                id=o.id, channel_id=o.channel_id, channel_label=self._label(self._channel(o.channel_id, s)),
                status=o.status, started_at=o.created_at) for o in mine[c.id] if o.id != c.id]
            rows = sorted((m for o in mine[c.id] for m in by_conv.get(o.id, [])), key=lambda m: m.id)
            pages[c.id] = (rows[-HISTORY:], len(rows) > HISTORY)
        return related, pages


def _same_customer(conv: Conversation, other: Conversation) -> bool:
    """``other`` is one of ``conv``'s customer's conversations (``Queries._related``'s rule)."""
    return ((other.channel_id, other.customer_address) == (conv.channel_id, conv.customer_address)
            or bool(conv.contact_id and other.contact_id == conv.contact_id))
