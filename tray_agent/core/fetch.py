"""A batch read for syncing desktops: the conversations and messages a run of thin events
named, in one query each, visibility enforced (what the agent may not see is left out)."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import col

from tray_agent.core.base import InboxBase
from tray_agent.core.models import Conversation, Message
from tray_agent.core.views import ConversationView, MessageView, RelatedConversation

MAX_IDS = 1000
#: The most of a customer's history one fetch brings per conversation (older: page back).
HISTORY = 500


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
        omitted. ``history_ids``: conversations new to the desktop, whose whole history
        (up to ``HISTORY`` messages, earlier sessions too) comes along."""
        cids, mids = sorted(set(conversation_ids))[:MAX_IDS], sorted(set(message_ids))[:MAX_IDS]
        with self.db.read() as s:
            admin = self._is_admin(s, agent_id)
            seen = self._visible(agent_id, self._my_queues(s, agent_id))
            convs: list[Conversation] = []
            if cids:
                q = select(Conversation).where(col(Conversation.id).in_(cids))
                convs = list(s.execute(q if admin else q.where(seen)).scalars())
            msgs: list[Message] = []
            if mids:
                q2 = select(Message).join(Conversation, col(Conversation.id) == col(Message.conversation_id)) \
                    .where(col(Message.id).in_(mids))
                msgs = list(s.execute((q2 if admin else q2.where(seen)).order_by(col(Message.id))).scalars())
            views = self._conversation_views(s, agent_id, convs)
        seen = {v.id for v in views}
        histories = []
        for cid in sorted(set(history_ids or []) & seen)[:50]:
            page = self.history(agent_id, cid, limit=HISTORY)  # type: ignore[attr-defined]  # Queries', mixed into Inbox
            related = self.get_conversation(agent_id, cid).related  # type: ignore[attr-defined]  # (as above)
            histories.append(History(conversation_id=cid, messages=page.items, related=related,
                                     next_before=page.next_before))
        with self.db.read() as s:
            return Fetched(conversations=views, messages=self._message_views(s, msgs), histories=histories)
