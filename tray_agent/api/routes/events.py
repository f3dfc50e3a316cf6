"""The live event stream (Server-Sent Events) and the event log page by page.

A window resumes where it left off: ``?after=SEQ`` on connect, and the browser's own
``Last-Event-ID`` when EventSource reconnects, so a reconnect or a wake from sleep misses
nothing. A client too far behind (or ahead, after the store was replaced) is told to
``resync``: reload its views, then follow from the newest event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Optional

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from tray_agent.api import stream
from tray_agent.api.deps import AgentId, AppDep, InboxDep, StateDep
from tray_agent.api.schemas import MAX_ID, Seq
from tray_agent.core.errors import InvalidInput
from tray_agent.core.views import EventView

router = APIRouter(prefix="/api", tags=["events"])


@router.get("/events", response_model=list[EventView])
def events(inbox: InboxDep, agent: AgentId, after: Seq = 0,
           limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[EventView]:
    """Committed events this agent may see after ``after``, oldest first."""
    return inbox.events_since(agent, after, limit)


@router.get("/events/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def event_stream(state: StateDep, app: AppDep, agent: AgentId,
                       after: Optional[Seq] = None,
                       last_event_id: Annotated[Optional[str], Header()] = None) -> StreamingResponse:
    """Server-Sent Events: ``hello`` first, then each event (``id`` = its seq, data = the
    event as JSON), ``ping`` every 15 s, or ``resync`` when the client must reload."""
    if last_event_id:
        try:
            after = int(last_event_id)
            if not 0 <= after <= MAX_ID:
                raise ValueError(last_event_id)
        except ValueError:
            raise InvalidInput("Last-Event-ID must be an event sequence number.") from None
    last = await run_in_threadpool(app.inbox.last_seq)
    start = last if after is None else after
    resync = start > last or last - start > stream.RESYNC_GAP
    if resync:
        start = last
    return StreamingResponse(_sse(app, agent, start, last, resync, state.stopping), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _sse(app: AppDep, agent: int, after: int, last: int, resync: bool,
               stopping: asyncio.Event | None) -> AsyncIterator[str]:
    hello = {"last_seq": last, "after": after, "now": app.clock.now().isoformat()}
    yield f"retry: 1000\nevent: hello\ndata: {json.dumps(hello)}\n\n"
    if resync:
        yield f"id: {after}\nevent: resync\ndata: {json.dumps({'last_seq': after})}\n\n"
    async for batch in stream.follow(app.inbox, agent, after, stopping=stopping):
        if batch is None:
            yield f"event: ping\ndata: {json.dumps({'now': app.clock.now().isoformat()})}\n\n"
            continue
        yield "".join(f"id: {ev.seq}\ndata: {ev.model_dump_json()}\n\n" for ev in batch)
