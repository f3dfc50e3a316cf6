"""What ``GET /api/connection`` and ``doctor`` say about where this desktop's data lives:
alone ("local"), or a team server's cache with the connection's state and what waits to go
upstream."""

from __future__ import annotations

from typing import Any

from tray_agent.app import App


def connection(app: App) -> dict[str, Any]:
    if app.config.team_mode:
        return app.inbox.connection()  # type: ignore[attr-defined]  # a TeamInbox
    return {"mode": "local", "server": None, "agent": app.agent.model_dump(mode="json"), "state": "local",
            "since": None, "pending": 0, "pending_replies": 0, "last_error": None, "cursor": None}
