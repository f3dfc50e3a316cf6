"""The sync API's batch read: ``POST /sync/v1/fetch`` — the views of the conversations and
messages a run of events named, so a desktop applies a burst with one request."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from tray_agent.core.fetch import MAX_IDS, Fetched
from tray_agent.server.deps import CallerDep, InboxDep
from tray_agent.server.routes_sync import PREFIX

router = APIRouter(prefix=PREFIX, tags=["sync"])


class FetchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation_ids: list[int] = Field(default_factory=list, max_length=MAX_IDS)
    message_ids: list[int] = Field(default_factory=list, max_length=MAX_IDS)
    #: Conversations new to the desktop: their whole history comes along (at most 50 a call).
    history_ids: list[int] = Field(default_factory=list, max_length=50)


@router.post("/fetch", response_model=Fetched)
def fetch(body: FetchBody, caller: CallerDep, inbox: InboxDep) -> Response:
    """Conversations and messages by id (and the history of those in ``history_ids``); what
    this agent may not see (or what does not exist) is left out, never an error."""
    got = inbox.fetch(caller.agent_id, body.conversation_ids, body.message_ids, body.history_ids)
    # Serialised once: the views are already validated, and a response model would dump,
    # validate and dump them again (a history is up to 500 messages a conversation).
    return Response(got.model_dump_json(), media_type="application/json")
