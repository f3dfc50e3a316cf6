"""The sync API's reads: sign-in, who am I, the snapshot, one conversation and its history,
and the agent's filtered event stream (Server-Sent Events, or long-poll JSON).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tray_agent.core.views import ConversationDetail, EventView, MessagePage
from tray_agent.server import stream
from tray_agent.server.accounts import Accounts, Caller, DeviceView
from tray_agent.server.cursor import check_cursor, format_cursor
from tray_agent.server.deps import AccountsDep, AppDep, CallerDep, InboxDep
from tray_agent.server.tail import LogTail
from tray_agent.core.views import AgentView

PREFIX = "/sync/v1"
router = APIRouter(prefix=PREFIX, tags=["sync"])
MAX_WAIT = 60


class SignInBody(BaseModel):
    code: str = Field(..., min_length=1, max_length=100)
    device_name: str = Field(..., min_length=1, max_length=200)


class SignInResult(BaseModel):
    #: The device's bearer token: shown this once, stored only hashed on the server.
    token: str
    device: DeviceView
    agent: AgentView
    epoch: str


@router.post("/sign-in", response_model=SignInResult, status_code=201)
def sign_in(body: SignInBody, request: Request, accounts: AccountsDep) -> SignInResult:
    """Trade a one-time sign-in code for a device token. Rate-limited per address and code."""
    source = request.client.host if request.client else "unknown"
    device, agent, token = accounts.sign_in(body.code, body.device_name, source)
    return SignInResult(token=token, device=device, agent=agent, epoch=accounts.epoch())


@router.get("/me", response_model=AgentView)
def me(caller: CallerDep, inbox: InboxDep) -> AgentView:
    return inbox.get_agent(caller.agent_id)


@router.get("/snapshot")
def snapshot(caller: CallerDep, inbox: InboxDep, accounts: AccountsDep,
             after: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
             messages: Annotated[int, Query(ge=0, le=200)] = 20) -> Response:
    """A page of what this agent may see, with the ``cursor`` it is consistent with. Follow
    the events from the first page's cursor; later pages (``after=next_after``) are as new or
    newer, and applying events to them as upserts is harmless."""
    seq, body = inbox.snapshot_json(caller.agent_id, after=after, limit=limit, messages=messages)
    epoch = accounts.epoch()
    # The page's JSON as the service layer wrote it (on PostgreSQL the database built its
    # conversations), with the cursor and epoch put in front.
    head = json.dumps({"cursor": format_cursor(epoch, seq), "epoch": epoch})
    return Response(head[:-1] + "," + body[1:], media_type="application/json")


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
def conversation(conversation_id: int, caller: CallerDep, inbox: InboxDep) -> ConversationDetail:
    return inbox.get_conversation(caller.agent_id, conversation_id)


@router.get("/conversations/{conversation_id}/messages", response_model=MessagePage)
def messages(conversation_id: int, caller: CallerDep, inbox: InboxDep,
             before: Annotated[Optional[int], Query(ge=1)] = None,
             limit: Annotated[int, Query(ge=1, le=200)] = 50) -> MessagePage:
    """The customer's whole history (earlier conversations too), newest page first."""
    return inbox.history(caller.agent_id, conversation_id, before=before, limit=limit)


def _wire(epoch: str, ev: EventView) -> dict[str, Any]:
    return {"cursor": format_cursor(epoch, ev.seq), **ev.model_dump(mode="json")}


@router.get("/events", responses={200: {"content": {"text/event-stream": {}}}})
async def events(request: Request, caller: CallerDep, app: AppDep, accounts: AccountsDep,
                 since: Annotated[Optional[str], Query(max_length=100)] = None,
                 wait: Annotated[Optional[float], Query(ge=0, le=MAX_WAIT)] = None,
                 last_event_id: Annotated[Optional[str], Header()] = None) -> Response:
    """The events after ``since`` this agent may see. With ``Accept: text/event-stream``: SSE
    (``id:`` is each event's cursor, ``:`` keep-alive comments; EventSource's Last-Event-ID
    resumes). Otherwise JSON, waiting up to ``wait`` seconds for the first event."""
    cursor = last_event_id or since
    if not cursor:
        return JSONResponse({"error": "invalid_input", "message": "since is required: a cursor from the snapshot."},
                            status_code=422)
    epoch = await run_in_threadpool(accounts.epoch)
    oldest, newest = await run_in_threadpool(app.inbox.event_bounds)
    after = check_cursor(cursor, epoch, oldest, newest)
    state = request.app.state
    stopping: asyncio.Event = state.stopping
    tail: LogTail = state.tail
    if wait is None and "text/event-stream" in request.headers.get("accept", ""):
        heartbeat = partial(_present, accounts, caller)
        return StreamingResponse(_sse(app, tail, caller.agent_id, epoch, after, stopping, heartbeat),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    got, upto = await _long_poll(app, tail, caller.agent_id, after, wait or 0.0, stopping)
    return JSONResponse({"events": [_wire(epoch, e) for e in got], "cursor": format_cursor(epoch, upto)})


def _present(accounts: Accounts, caller: Caller) -> bool:
    """An open stream's periodic check: the device is not revoked, and it is present (the
    stream is its heartbeat while no request comes)."""
    if not accounts.device_active(caller.device_id):
        return False
    accounts.seen(caller)
    return True


async def _long_poll(app: AppDep, tail: LogTail, agent_id: int, after: int, wait: float,
                     stopping: asyncio.Event) -> tuple[list[EventView], int]:
    """Read once; if nothing is there for this agent, follow until an event or ``wait`` ends.
    A long-polling desktop is present, as a streaming one is."""
    await run_in_threadpool(app.inbox.touch_agent, agent_id)
    got, upto = await run_in_threadpool(app.inbox.events_for, agent_id, after, stream.BATCH)
    deadline = time.monotonic() + wait
    if got or wait <= 0:
        return got, upto
    follower = stream.follow(app.inbox, tail, agent_id, upto, stopping=stopping)
    try:
        while not got and (remaining := deadline - time.monotonic()) > 0:
            try:  # asyncio.timeout, not wait_for: a cancel arriving with an event still ends the poll
                async with asyncio.timeout(remaining):
                    item = await follower.__anext__()
            except (TimeoutError, StopAsyncIteration):
                break
            if item is not None:
                got, upto = item
    finally:
        await follower.aclose()
    if not got:
        # A stream wakes only for events this agent may see: move past the others now.
        got, upto = await run_in_threadpool(app.inbox.events_for, agent_id, upto, stream.BATCH)
    return got, upto


async def _sse(app: AppDep, tail: LogTail, agent_id: int, epoch: str, after: int, stopping: asyncio.Event,
               heartbeat: Callable[[], bool]) -> AsyncIterator[str]:
    frames = tail.frames
    yield "retry: 1000\n\n"
    async for item in stream.follow(app.inbox, tail, agent_id, after, stopping=stopping, heartbeat=heartbeat):
        if item is None:
            yield ": keep-alive\n\n"
            continue
        yield frames.sse(epoch, *item)
