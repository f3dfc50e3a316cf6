"""Bringing the agent's channels up around the API server: configured channels from the
TOML file, or the local provider sandbox when none is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tray_agent.api.server import ApiServer
    from tray_agent.app import App


async def before_serve(app: "App", server: "ApiServer") -> None:
    """Called once the server's address is known, before it starts serving."""


async def after_serve(app: "App", server: "ApiServer") -> None:
    """Called after the server has stopped."""
