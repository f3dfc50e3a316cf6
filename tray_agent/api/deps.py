"""What every route needs: the one typed holder behind ``request.app.state`` (the App, the
runner, the token, the desktop shell), the service layer and the agent the request acts for.

On the desktop the token belongs to the local agent; a team server maps its tokens to
agents here, and nothing else in the routes changes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from tray_agent.app import App
from tray_agent.core.errors import Conflict
from tray_agent.core.service import Inbox

if TYPE_CHECKING:
    from tray_agent.run.runner import Runner


class Desktop(Protocol):
    """What the tray daemon's shell offers the ``/api/desktop`` routes."""

    @property
    def url(self) -> str: ...

    def open_window(self, conversation_id: int | None = None) -> str: ...

    def status(self) -> dict[str, Any]: ...


@dataclass
class ApiState:
    """Everything a request may reach, set once when the API is built (``api.state.tray``)."""

    app: App
    runner: "Runner"
    token: str
    #: The tray daemon's shell; None under ``tray-agent serve``, the tests and the kit.
    desktop: Desktop | None = None
    #: Set when the server shuts down: open event streams end instead of holding it up.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


def get_state(request: HTTPConnection) -> ApiState:
    return request.app.state.tray


def get_app(request: Request) -> App:
    return get_state(request).app


def get_inbox(request: Request) -> Inbox:
    return get_state(request).app.inbox


def get_agent_id(request: Request) -> int:
    return get_state(request).app.agent.id


def get_desktop(request: Request) -> Desktop:
    shell = get_state(request).desktop
    if shell is None:
        raise Conflict("This agent runs without the desktop shell (tray-agent serve); open its address in a browser.")
    return shell


StateDep = Annotated[ApiState, Depends(get_state)]
AppDep = Annotated[App, Depends(get_app)]
InboxDep = Annotated[Inbox, Depends(get_inbox)]
AgentId = Annotated[int, Depends(get_agent_id)]
DesktopDep = Annotated[Desktop, Depends(get_desktop)]
