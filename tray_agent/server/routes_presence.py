"""Presence over the sync API: the agent sets their status (available, away, busy), and the
transfer picker lists colleagues with their presence and open load.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tray_agent.core.views import AgentView
from tray_agent.server.deps import AppDep, CallerDep, InboxDep
from tray_agent.server.idempotency import MAX_KEY, run_once
from tray_agent.server.routes_sync import PREFIX

router = APIRouter(prefix=PREFIX, tags=["presence"])


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["available", "away", "busy"]
    client_key: Optional[str] = Field(None, max_length=MAX_KEY)


@router.put("/me/status", response_model=AgentView)
def set_status(body: StatusBody, request: Request, app: AppDep, caller: CallerDep,
               idempotency_key: Annotated[Optional[str], Header(max_length=MAX_KEY)] = None) -> JSONResponse:
    """Set my status; others see it as my presence while a device of mine is connected.
    The idempotency key is optional here: setting a status twice is harmless."""
    action = lambda: app.inbox.set_status(caller.agent_id, body.status)  # noqa: E731
    key = idempotency_key or body.client_key
    if not key:
        return JSONResponse(action().model_dump(mode="json"))
    # A lost answer (its replica died): setting it again is that answer.
    code, answer = run_once(app.db, app.clock, caller.agent_id, key, f"{request.method} {request.url.path}", action,
                            recover=lambda _acted: action())
    return JSONResponse(answer, status_code=code)


@router.get("/agents", response_model=list[AgentView])
def agents(caller: CallerDep, inbox: InboxDep) -> list[AgentView]:
    """Colleagues with their presence and open load (the transfer picker)."""
    return inbox.list_agents()
