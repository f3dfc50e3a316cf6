"""The sync API's actions: reply, claim, transfer, close, reopen, archive, unarchive, read,
unread, a failed reply's retry, starting a conversation, and recording a call placed from a desktop.
Each carries a client-generated key (``Idempotency-Key`` header or ``client_key`` field): a
repeat gets the first answer, and the events the action wrote carry the key. Refusals
answer a stable ``error`` code (already_taken, not_owner — an admin replying in a
colleague's —, conversation_closed, reply_window_closed, not_found, ...) with the human
``message``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tray_agent.api import uploads
from tray_agent.api.schemas import MAX_FILES_PER_MESSAGE
from tray_agent.core.call_actions import PlacedCall
from tray_agent.core.errors import Forbidden, NotFound
from tray_agent.core.models import Event
from tray_agent.core.service import Inbox
from tray_agent.core.views import ConversationView, MessageView, TransferView
from tray_agent.server.accounts import Actor, Caller
from tray_agent.server.deps import AppDep, CallerDep
from tray_agent.server.idempotency import MAX_KEY, Recover, run_once
from tray_agent.server.routes_sync import PREFIX

router = APIRouter(prefix=PREFIX, tags=["sync actions"])
#: The `Idempotency-Key` header (FastAPI maps the parameter name idempotency_key to it).
KeyHeader = Annotated[Optional[str], Header(max_length=MAX_KEY)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "not_found: the conversation is not one this agent sees"},
    403: {"description": "not_owner (owner_id): an administrator replying to a colleague's conversation"},
    409: {"description": "already_taken (owner_id, owner_name, taken_at), conversation_closed, "
                         "reply_window_closed (closed_at), in_progress"}}


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_key: Optional[str] = Field(None, max_length=MAX_KEY)


class ReplyBody(ActionBody):
    text: str = Field("", max_length=100_000)
    #: Ids from ``POST /sync/v1/uploads``.
    uploads: list[str] = Field(default_factory=list, max_length=MAX_FILES_PER_MESSAGE)


class TransferBody(ActionBody):
    to_agent_id: Optional[int] = None
    to_queue_id: Optional[int] = None
    note: str = Field("", max_length=2000)


def _act(request: Request, app: AppDep, caller: CallerDep, key: str | None, body: ActionBody | None,
         action: Callable[[], BaseModel], status: int = 200, *, audit: bool = True,
         recover: Recover | None = None) -> JSONResponse:
    if caller.admin and audit:
        action = _audited(request, caller, action)
    code, answer = run_once(app.db, app.clock, caller.agent_id, key or (body.client_key if body else None),
                            f"{request.method} {request.url.path}", action, status, recover)
    return JSONResponse(answer, status_code=code)


# What an action whose replica died before answering did, as its answer would have said
# (server/idempotency.py): the rows its events name, as this agent sees them now.

def _message_of(app: AppDep, caller: Caller, message_id: int | None) -> MessageView:
    found = app.inbox.fetch(caller.agent_id, [], [message_id] if message_id is not None else []).messages
    if not found:
        raise NotFound(f"There is no outgoing message {message_id}.")
    return found[0]


def _conversation_of(app: AppDep, caller: Caller, conversation_id: int | None) -> ConversationView:
    found = app.inbox.fetch(caller.agent_id, [conversation_id] if conversation_id is not None else [], []).conversations
    if not found:
        raise NotFound(f"There is no conversation {conversation_id}.")
    return found[0]


def _created(acted: Sequence[Event]) -> Event:
    return next((e for e in acted if e.type == "message.created"), acted[0])


def _audited(request: Request, caller: Caller, action: Callable[[], BaseModel]) -> Callable[[], BaseModel]:
    """An administrator's action on a conversation (often a colleague's) goes to the audit log."""
    verb = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    params = request.path_params
    target = (f"conversation:{params['conversation_id']}" if "conversation_id" in params
              else f"message:{params.get('message_id')}")

    def run() -> BaseModel:
        result = action()
        if verb not in ("read", "unread"):  # an agent's own read marks are no administration
            accounts = request.app.state.accounts
            accounts.record(Actor(accounts.inbox.get_agent(caller.agent_id).name, caller.agent_id),
                            f"{target.split(':')[0]}.{verb}", target)
        return result

    return run


@router.post("/conversations/{conversation_id}/reply", status_code=201, response_model=MessageView,
             responses=_ERRORS)
def reply(conversation_id: int, body: ReplyBody, request: Request, app: AppDep, caller: CallerDep,
          idempotency_key: KeyHeader = None) -> JSONResponse:
    """Send a reply with text and/or uploaded files (queued for the channel; it goes out
    once, whatever the retries)."""
    def send() -> MessageView:
        # Resolved inside the once-only action: a repeat replays the answer, though the
        # staged files are spent by then.
        files = uploads.resolve_with(request.app.state.accounts.upload_key(), app.inbox.files, caller.agent_id,
                                     body.uploads)
        return app.inbox.reply(caller.agent_id, conversation_id, body.text, files=files)

    return _act(request, app, caller, idempotency_key, body, send, 201,
                recover=lambda acted: _message_of(app, caller, _created(acted).message_id))


class CallBody(ActionBody):
    """A call the agent's desktop placed through its own handler (a tel: URI, the PBX's
    click-to-call): the attempt, to be recorded."""

    handler: str = Field(..., min_length=1, max_length=100)
    handler_label: str = Field("", max_length=200)
    started: bool
    #: The handler's words, or why the call did not start.
    detail: str = Field("", max_length=2000)
    call_id: Optional[str] = Field(None, max_length=200)
    outcome: Optional[str] = Field(None, max_length=500)


@router.post("/conversations/{conversation_id}/call", status_code=201, response_model=MessageView, responses={
    404: _ERRORS[404], 409: {"description": "rule_violation: the channel's customers have no phone number"}})
def call(conversation_id: int, body: CallBody, request: Request, app: AppDep, caller: CallerDep,
         idempotency_key: KeyHeader = None) -> JSONResponse:
    """Record a call the agent placed from their desktop (calls are dialled where the agent's
    phone is): a "call" row in the history that everyone who sees the conversation sees, a
    failed attempt with its reason."""
    placed = PlacedCall(body.handler, body.handler_label, body.started, body.detail, body.call_id, body.outcome)
    return _act(request, app, caller, idempotency_key, body,
                lambda: app.inbox.record_call(caller.agent_id, conversation_id, placed), 201,
                recover=lambda acted: _message_of(app, caller, _created(acted).message_id))


class StartBody(ReplyBody):
    channel_id: int
    customer_address: str = Field(..., min_length=1, max_length=200)


class Started(BaseModel):
    conversation: ConversationView
    message: MessageView


@router.post("/conversations", status_code=201, response_model=Started, responses={
    403: {"description": "forbidden: the channel routes to neither this agent nor one of their queues, or a "
                         "colleague already has an open conversation with this customer"},
    404: {"description": "not_found: no such channel"},
    409: {"description": "rule_violation: the channel's customers start conversations (WhatsApp), or it is "
                         "disabled; in_progress"},
    422: {"description": "invalid_input: a number the channel cannot reach, an empty message"}})
def start(body: StartBody, request: Request, app: AppDep, caller: CallerDep,
          idempotency_key: KeyHeader = None) -> JSONResponse:
    """Start a conversation from the business number, where the channel lets the business
    start one (SMS; never WhatsApp): it is the caller's from the first message."""
    def begin() -> Started:
        may_start(app.inbox, caller, body.channel_id)
        files = uploads.resolve_with(request.app.state.accounts.upload_key(), app.inbox.files, caller.agent_id,
                                     body.uploads)
        conv, msg = app.inbox.start_conversation(caller.agent_id, body.channel_id, body.customer_address,
                                                 body.text, files=files)
        return Started(conversation=conv, message=msg)

    def recover(acted: Sequence[Event]) -> Started:
        first = _created(acted)
        return Started(conversation=_conversation_of(app, caller, first.conversation_id),
                       message=_message_of(app, caller, first.message_id))

    return _act(request, app, caller, idempotency_key, body, begin, 201, audit=False, recover=recover)


def may_start(inbox: Inbox, caller: Caller, channel_id: int) -> None:
    """Who may start on a channel: whoever its new conversations would reach (the agent it
    routes to, its queue's members, everyone for a channel routed nowhere) and admins."""
    ch = inbox.get_channel(channel_id)
    admin, queues = inbox.agent_scope(caller.agent_id)
    if admin or ch.route_agent_id == caller.agent_id or (ch.route_queue_id is not None and ch.route_queue_id in queues):
        return
    if ch.route_agent_id is None and ch.route_queue_id is None:
        return
    raise Forbidden(f"Conversations on {ch.name} go to colleagues; ask an administrator to add you to its queue.")


@router.post("/messages/{message_id}/retry", response_model=MessageView, responses={
    404: {"description": "not_found: no outgoing message of a conversation this agent sees"},
    409: {"description": "rule_violation (the channel's rules refused it: sending it again cannot work), "
                         "conversation_closed, reply_window_closed, in_progress"},
    422: {"description": "invalid_input: the message has not failed"}})
def retry(message_id: int, request: Request, app: AppDep, caller: CallerDep,
          idempotency_key: KeyHeader = None, body: Optional[ActionBody] = None) -> JSONResponse:
    """Send a failed reply again (the provider failed it), as a new attempt of the same
    message; one the channel's rules refused is not sent again."""
    def again() -> MessageView:
        try:
            return app.inbox.retry(caller.agent_id, message_id)
        except NotFound:  # the same line whether the message exists in a conversation not seen or not at all
            raise NotFound(f"There is no outgoing message {message_id}.") from None

    return _act(request, app, caller, idempotency_key, body, again,
                recover=lambda _acted: _message_of(app, caller, message_id))


@router.post("/conversations/{conversation_id}/transfer", response_model=TransferView, responses=_ERRORS)
def transfer(conversation_id: int, body: TransferBody, request: Request, app: AppDep, caller: CallerDep,
             idempotency_key: KeyHeader = None) -> JSONResponse:
    """Hand the conversation to a colleague or a queue, with an optional note."""
    def recover(_acted: Sequence[Event]) -> TransferView:
        # Transferred out of this agent's sight, it answers not_found, as a repeat would then.
        return TransferView(**_conversation_of(app, caller, conversation_id).model_dump())

    return _act(request, app, caller, idempotency_key, body, lambda: app.inbox.transfer(
        caller.agent_id, conversation_id, to_agent_id=body.to_agent_id, to_queue_id=body.to_queue_id,
        note=body.note), recover=recover)


def _simple(name: str, doc: str, action: Callable[[Inbox, int, int], ConversationView]) -> None:
    """The one-word actions share a shape: POST, an optional body with the key, the
    conversation back."""

    def endpoint(conversation_id: int, request: Request, app: AppDep, caller: CallerDep,
                 idempotency_key: KeyHeader = None, body: Optional[ActionBody] = None) -> JSONResponse:
        return _act(request, app, caller, idempotency_key, body,
                    lambda: action(app.inbox, caller.agent_id, conversation_id),
                    recover=lambda _acted: _conversation_of(app, caller, conversation_id))

    endpoint.__doc__ = doc
    endpoint.__name__ = name
    router.add_api_route(f"/conversations/{{conversation_id}}/{name}", endpoint, methods=["POST"],
                         response_model=ConversationView, responses=_ERRORS, name=f"sync_{name}")


_simple("claim", "Take the conversation over (Pick Up); of racing claims one wins, the others "
        "are told who took it and when.", lambda i, a, c: i.claim(a, c))
_simple("close", "Close the conversation.", lambda i, a, c: i.close(a, c))
_simple("reopen", "Reopen a closed conversation.", lambda i, a, c: i.reopen(a, c))
_simple("archive", "Archive it for this agent's list.", lambda i, a, c: i.archive(a, c))
_simple("unarchive", "Bring it back from the archive.", lambda i, a, c: i.unarchive(a, c))
_simple("read", "Mark it read up to its newest message.", lambda i, a, c: i.mark_read(a, c))
_simple("unread", "Mark it unread for this agent (to come back to it); their next read clears it.",
        lambda i, a, c: i.mark_unread(a, c))
