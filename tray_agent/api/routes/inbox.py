"""Reading the inbox: the session, the list with filters and cursor, a conversation with its
composer state, its history page by page, one message, and search."""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Query

from tray_agent import __version__
from tray_agent.api.deps import AgentId, AppDep, InboxDep
from tray_agent.api.schemas import MAX_ID, Id, SessionView, Settings, UnreadSummary
from tray_agent.core.errors import NotFound
from tray_agent.core.views import ConversationDetail, InboxFilter, InboxPage, MessagePage, MessageView, SearchHit

router = APIRouter(prefix="/api", tags=["inbox"])

Limit = Annotated[int, Query(ge=1, le=200)]
#: Words, numbers or emoji; the service layer refuses a query with nothing searchable in it
#: (only spaces or punctuation) with its own 422 message.
SearchWords = Annotated[str, Query(min_length=1, max_length=500,
                                   description="Words to find; the last one matches as a prefix.")]


@router.get("/session", response_model=SessionView)
def session(app: AppDep) -> SessionView:
    """Who the window acts for, their settings, the event log's position, the server's time."""
    agent = app.agent
    inbox = app.inbox
    return SessionView(agent=inbox.get_agent(agent.id), settings=Settings(**inbox.get_settings(agent.id)),
                       last_seq=inbox.last_seq(), now=app.clock.now(), version=__version__)


@router.get("/inbox", response_model=InboxPage)
def list_inbox(inbox: InboxDep, agent: AgentId, filter: InboxFilter = "all", channel_id: Optional[Id] = None,
               limit: Limit = 50, cursor: Optional[str] = Query(None, max_length=200)) -> InboxPage:
    """Conversations, most recently active first; pass ``next_cursor`` back for the next page."""
    return inbox.list_inbox(agent, filter, channel_id=channel_id, limit=limit, cursor=cursor)


@router.get("/inbox/unread", response_model=UnreadSummary)
def unread(inbox: InboxDep, agent: AgentId) -> UnreadSummary:
    """How many conversations are unread, and the five most recent of them (the tray badge)."""
    count, ids = inbox.unread_summary(agent)
    return UnreadSummary(count=count, conversation_ids=ids)


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
def conversation(conversation_id: Id, inbox: InboxDep, agent: AgentId) -> ConversationDetail:
    """One conversation with its channel's rules and what the composer may do right now."""
    return inbox.get_conversation(agent, conversation_id)


@router.get("/conversations/{conversation_id}/messages", response_model=MessagePage)
def history(conversation_id: Id, inbox: InboxDep, agent: AgentId, before: Optional[Id] = None,
            limit: Limit = 50) -> MessagePage:
    """The customer's whole history (earlier conversations too), newest page first; each
    page is oldest-first. Pass ``next_before`` as ``before`` for older messages."""
    return inbox.history(agent, conversation_id, before=before, limit=limit)


@router.get("/conversations/{conversation_id}/messages/{message_id}", response_model=MessageView)
def message(conversation_id: Id, message_id: Id, inbox: InboxDep, agent: AgentId) -> MessageView:
    """One message of the history (after a status change or a file expiring)."""
    page = inbox.history(agent, conversation_id, before=message_id + 1 if message_id < MAX_ID else None, limit=1)
    if not page.items or page.items[-1].id != message_id:
        raise NotFound(f"There is no message {message_id} in this conversation.")
    return page.items[-1]


@router.get("/search", response_model=list[SearchHit])
def search(inbox: InboxDep, agent: AgentId, q: SearchWords, before: Optional[Id] = None,
           limit: Limit = 50) -> list[SearchHit]:
    """Messages containing every word of ``q`` (the last as a prefix), newest first."""
    return inbox.search(agent, q, limit=limit, before=before)
