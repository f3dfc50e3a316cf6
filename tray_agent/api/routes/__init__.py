"""The local API's routes, one module per area. ``ROUTERS`` is the one list of what the
API serves (besides webhooks, public file links and plugins' routes, which ``api.server``
adds): a new module is served once it is named here.
"""

from __future__ import annotations

from fastapi import APIRouter

from tray_agent.api.routes import (
    actions,
    admin,
    connection,
    desktop,
    directory,
    events,
    files,
    inbox,
    tasks,
    ui,
)

# The window's pages (ui) last: its "/" and "/ui/..." match nothing above.
ROUTERS: tuple[APIRouter, ...] = (
    actions.router, admin.router, connection.router, desktop.router, directory.router, events.router, files.router,
    inbox.router, tasks.router, ui.router,
)
