"""The tray daemon's own endpoints: a second launch (or a script) asks the running daemon
to bring its window up; tests and ``doctor``-style tools read what the shell is doing.

They answer only in a process that runs the desktop shell (``tray-agent`` with no
command), which sets ``app.state.desktop``; elsewhere (``tray-agent serve``) they say so.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from tray_agent.api import security
from tray_agent.api.schemas import Id
from tray_agent.core.errors import Conflict

router = APIRouter(prefix="/api/desktop", tags=["desktop"], dependencies=[Depends(security.require_token)],
                   responses={409: {"description": "This agent runs without the desktop shell."}})


class OpenRequest(BaseModel):
    conversation_id: Optional[Id] = None


def _shell(request: Request) -> Any:
    shell = getattr(request.app.state, "desktop", None)
    if shell is None:
        raise Conflict("This agent runs without the desktop shell (tray-agent serve); open its address in a browser.")
    return shell


@router.post("/open")
def open_window(body: OpenRequest, request: Request) -> dict[str, Any]:
    """Bring the chat window up (at a conversation); falls back to the browser.

    ``opened`` is "window", "browser" or "none" (no display: open ``url`` yourself)."""
    shell = _shell(request)
    return {"opened": shell.open_window(body.conversation_id), "url": shell.url}


@router.get("/status")
def status(request: Request) -> dict[str, Any]:
    """What the shell is showing: tray back-end, badge, window, recent notifications."""
    return _shell(request).status()
