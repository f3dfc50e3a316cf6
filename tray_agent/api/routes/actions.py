"""What an agent does: reply, start a conversation, take over, transfer, archive, close,
read marks, call, save the customer as a contact, and send a failed message again."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request

from tray_agent.api import uploads
from tray_agent.api.deps import AgentId, InboxDep
from tray_agent.api.schemas import CallBody, ContactBody, Id, ReplyBody, StartBody, StartResult, TransferBody
from tray_agent.core.service import Inbox
from tray_agent.core.views import CallPlanView, CallView, ContactView, ConversationView, MessageView

router = APIRouter(prefix="/api", tags=["actions"])


@router.post("/conversations/{conversation_id}/messages", response_model=MessageView, status_code=201)
def reply(conversation_id: Id, body: ReplyBody, request: Request, inbox: InboxDep, agent: AgentId) -> MessageView:
    """Send text and/or uploaded files (taking the conversation over if it is queued)."""
    files = uploads.resolve(request, agent, body.uploads)
    return inbox.reply(agent, conversation_id, body.text, files=files)


@router.post("/conversations", response_model=StartResult, status_code=201)
def start(body: StartBody, request: Request, inbox: InboxDep, agent: AgentId) -> StartResult:
    """Open a conversation from the business number, where the channel allows it."""
    files = uploads.resolve(request, agent, body.uploads)
    conv, msg = inbox.start_conversation(agent, body.channel_id, body.customer_address, body.text, files=files)
    return StartResult(conversation=conv, message=msg)


@router.post("/conversations/{conversation_id}/claim", response_model=ConversationView)
def claim(conversation_id: Id, inbox: InboxDep, agent: AgentId) -> ConversationView:
    """Take over a queued conversation; 409 names the colleague who was faster."""
    return inbox.claim(agent, conversation_id)


@router.post("/conversations/{conversation_id}/transfer", response_model=ConversationView)
def transfer(conversation_id: Id, body: TransferBody, inbox: InboxDep, agent: AgentId) -> ConversationView:
    """Hand the conversation to a colleague or a queue, with an optional note."""
    return inbox.transfer(agent, conversation_id, to_agent_id=body.to_agent_id, to_queue_id=body.to_queue_id,
                          note=body.note)


def _simple(name: str, doc: str, action: Callable[[Inbox, int, int], ConversationView]) -> None:
    """The one-word state changes share a shape: POST, no body, the conversation back."""

    def endpoint(conversation_id: Id, inbox: InboxDep, agent: AgentId) -> ConversationView:
        return action(inbox, agent, conversation_id)

    endpoint.__doc__ = doc
    endpoint.__name__ = name
    router.add_api_route(f"/conversations/{{conversation_id}}/{name}", endpoint, methods=["POST"],
                         response_model=ConversationView, name=name)


_simple("archive", "Hide the conversation from the inbox (a new customer message brings it back).",
        lambda i, a, c: i.archive(a, c))
_simple("unarchive", "Show an archived conversation in the inbox again.", lambda i, a, c: i.unarchive(a, c))
_simple("close", "End the conversation; the customer's next message opens a new one.",
        lambda i, a, c: i.close(a, c))
_simple("reopen", "Open a closed conversation again (409 if a newer one is open).", lambda i, a, c: i.reopen(a, c))
_simple("read", "Mark every message read.", lambda i, a, c: i.mark_read(a, c))
_simple("unread", "Mark the conversation unread.", lambda i, a, c: i.mark_unread(a, c))


@router.get("/conversations/{conversation_id}/call", response_model=CallPlanView)
def call_plan(conversation_id: Id, inbox: InboxDep, agent: AgentId, handler: str | None = None) -> CallPlanView:
    """What a call would dial and through which handler, to confirm first; nothing is dialled."""
    return inbox.call_plan(agent, conversation_id, handler)


@router.post("/conversations/{conversation_id}/call", response_model=CallView)
def call(conversation_id: Id, inbox: InboxDep, agent: AgentId, body: CallBody | None = None) -> CallView:
    """Start a phone call to the customer through a call handler; it is recorded in the history."""
    return inbox.elevate_to_call(agent, conversation_id, body.handler if body else None)


@router.post("/conversations/{conversation_id}/contact", response_model=ContactView)
def save_contact(conversation_id: Id, body: ContactBody, inbox: InboxDep, agent: AgentId) -> ContactView:
    """Save the customer as a new contact, or add their address to an existing one."""
    return inbox.save_contact(agent, conversation_id, name=body.name, contact_id=body.contact_id)


@router.post("/messages/{message_id}/retry", response_model=MessageView)
def retry(message_id: Id, inbox: InboxDep, agent: AgentId) -> MessageView:
    """Send a failed message again (409 when the channel's rules refused it)."""
    return inbox.retry(agent, message_id)
