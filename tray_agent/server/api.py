"""The team server's HTTP application: the providers' paths (webhooks, file links) and the
sync API. Unlike the desktop API it is not loopback-only: every sync request is
authenticated by its device token (``deps.get_caller``), sign-in by a one-time code.
"""

from __future__ import annotations

from fastapi import FastAPI

from tray_agent import __version__
from tray_agent.api.server import add_error_handlers, add_provider_routes
from tray_agent.app import App
from tray_agent.run.runtime import Runtime
from tray_agent.server import admin_auth, routes_actions, routes_admin, routes_fetch, routes_files, routes_presence, routes_sync
from tray_agent.server.accounts import Accounts
from tray_agent.server.administration import Administration
from tray_agent.server.idempotency import refusal
from tray_agent.server.tail import LogTail
from tray_agent.telemetry import no_telemetry


def create_server_api(app: App, runtime: Runtime, accounts: Accounts | None = None) -> FastAPI:
    """The replica's application; ``TeamServer`` starts and stops what runs behind it."""
    accounts = accounts or Accounts(app.inbox)
    api = FastAPI(title="Tray Agent team server", version=__version__,
                  docs_url=None, redoc_url=None, openapi_url="/sync/v1/openapi.json", **no_telemetry())
    api.state.app = app
    api.state.runtime = runtime
    api.state.accounts = accounts
    api.state.administration = Administration(accounts)
    accounts.epoch()  # made once, before the first snapshot
    #: Extra wake-up sources for the log's reader (LISTEN/NOTIFY across replicas).
    api.state.subscribers = []
    #: The replica's one reader of the event log, started by the first stream.
    api.state.tail = LogTail(app.inbox, api.state.subscribers)
    add_error_handlers(api, refusal)
    add_provider_routes(api, app, lambda: runtime)
    api.include_router(routes_sync.router)
    api.include_router(routes_actions.router)
    api.include_router(routes_presence.router)
    api.include_router(routes_files.router)
    api.include_router(admin_auth.router)  # the admin view (/admin/) and its session
    api.include_router(routes_admin.router)
    api.include_router(routes_fetch.router)
    return api
