"""What every route needs: the service layer and the agent the request acts for.

On the desktop the token belongs to the local agent; a team server maps its tokens to
agents here, and nothing else in the routes changes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tray_agent.app import App
from tray_agent.core.service import Inbox


def get_app(request: Request) -> App:
    return request.app.state.app


def get_inbox(request: Request) -> Inbox:
    return get_app(request).inbox


def get_agent_id(request: Request) -> int:
    return get_app(request).agent.id


AppDep = Annotated[App, Depends(get_app)]
InboxDep = Annotated[Inbox, Depends(get_inbox)]
AgentId = Annotated[int, Depends(get_agent_id)]
