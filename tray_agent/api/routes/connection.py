"""Where this desktop's inbox lives: alone, or a team server's cache — the connection's
state, the replies waiting to go upstream, the sync cursor (the window's offline banner)."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from tray_agent.api import security
from tray_agent.api.deps import AppDep
from tray_agent.team.status import connection as connection_of

router = APIRouter(prefix="/api", tags=["connection"], dependencies=[Depends(security.require_token)])


class ConnectionOut(BaseModel):
    mode: str  # local | team
    server: Optional[str] = None
    agent: Optional[dict[str, Any]] = None
    state: str  # online | connecting | offline | local
    since: Optional[str] = None
    pending: int = 0
    #: Of those, the replies (the banner's "3 replies waiting"; read marks wait too).
    pending_replies: int = 0
    last_error: Optional[str] = None
    cursor: Optional[str] = None


@router.get("/connection", response_model=ConnectionOut)
def connection(app: AppDep) -> dict[str, Any]:
    """The same body as the ``connection.updated`` local event's data."""
    return connection_of(app)
