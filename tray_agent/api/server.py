"""Builds the FastAPI application around an ``ApiState`` and serves it with uvicorn on
loopback; starting and stopping what it serves is the runner's (``tray_agent.run``).

Routes live in ``api/routes/`` and are included from its ``ROUTERS`` list. Webhooks and
file links are the only paths without the token: providers call them, so they are
verified by signature (webhooks) or by an unguessable, expiring link (files). Every
other request passes ``security.Guard`` (loopback Host, own Origin, token).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy import select
from sqlmodel import col
from starlette.exceptions import HTTPException as StarletteHTTPException

from tray_agent.api import body_limit, contract, failures, security
from tray_agent.api.deps import ApiState
from tray_agent.api.routes import ROUTERS
from tray_agent.app import App
from tray_agent.core.errors import TrayAgentError
from tray_agent.core.models import Attachment
from tray_agent.net import free_port, is_loopback_host
from tray_agent.quiet_server import QuietServer
from tray_agent.telemetry import no_telemetry

if TYPE_CHECKING:
    from tray_agent.run.runtime import Runtime

log = logging.getLogger(__name__)
PUBLIC_PREFIXES = security.PUBLIC_PREFIXES
#: Threads that run the API's blocking work (FastAPI's sync routes, ``run_in_threadpool``):
#: anyio's pool, 40 by default, grew with every concurrent request and held a stack each.
#: A local API has one user; SQLite serialises the writes anyway.
API_THREADS = 6
#: The event loop's executor (``asyncio.to_thread``: the runtime's store calls and sends).
BACKGROUND_THREADS = 4


def bound_threads() -> None:
    """Cap the running loop's worker threads (call in the loop, before any ``to_thread``).
    Both pools reuse their threads; anyio's end after 10 s idle."""
    import anyio.to_thread

    anyio.to_thread.current_default_thread_limiter().total_tokens = API_THREADS
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(BACKGROUND_THREADS, thread_name_prefix="background"))


def create_api(state: ApiState) -> FastAPI:
    """The API for one running agent; every request reaches it through ``state``."""
    app = state.app
    # No Swagger page: it loads its script from a CDN, which the CSP (rightly) refuses.
    api = FastAPI(title="Tray Agent", version=_version(),
                  docs_url=None, openapi_url="/api/openapi.json", redoc_url=None, **no_telemetry())
    api.state.tray = state
    api.add_middleware(failures.InternalErrors)  # inside Guard: its answers get the security headers
    api.add_middleware(security.Guard, token_of=lambda: state.token)
    api.add_exception_handler(Exception, failures.last_resort)
    contract.install(api)

    add_error_handlers(api)
    add_provider_routes(api, app, lambda: state.runner.runtime)
    _include_routes(api, app)
    return api


def add_error_handlers(api: FastAPI, user_error_body: Callable[[TrayAgentError], dict[str, Any]]
                       = TrayAgentError.to_dict) -> None:
    """Errors as the API's JSON: {"error": code, "message": one line}. The team server's sync
    API passes its own ``user_error_body`` for its stable refusal codes."""

    @api.exception_handler(TrayAgentError)
    async def user_error(_request: Request, exc: TrayAgentError) -> JSONResponse:
        return JSONResponse(user_error_body(exc), status_code=exc.status, headers=_retry_after(exc))

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return failures.method_not_allowed(request, str(exc.detail))
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "error")
        return JSONResponse({"error": code, "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @api.exception_handler(RequestValidationError)
    async def invalid_input(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "invalid_input", "message": _one_line(exc.errors()),
                             "detail": jsonable_encoder([{k: e.get(k) for k in ("loc", "msg", "type")}
                                                          for e in exc.errors()])}, status_code=422)


def _retry_after(exc: TrayAgentError) -> dict[str, str] | None:
    wait = getattr(exc, "retry_after", None)
    return {"Retry-After": str(wait)} if isinstance(wait, int) else None


def add_provider_routes(api: FastAPI, app: App, runtime: Callable[[], "Runtime"]) -> None:
    """The paths providers call: channel webhooks (signed, bounded bodies) and expiring file
    links. ``runtime()`` is the running channel runtime (its adapters' webhook routes)."""

    @api.api_route("/webhooks/{channel_id}/{path:path}", methods=["GET", "POST"], include_in_schema=False)
    async def webhook(channel_id: int, path: str, request: Request) -> Response:
        for route in runtime().routes.get(channel_id, []):
            if route.method == request.method and route.path.strip("/") == path.strip("/"):
                try:
                    await body_limit.read_body(request, route.max_body_bytes)
                except body_limit.BodyTooLarge as exc:  # unread beyond the limit: end the connection
                    return JSONResponse(exc.to_dict(), exc.status, headers={"Connection": "close"})
                return await route.handler(request)
        return JSONResponse({"error": "not_found", "message": "No such webhook."}, 404)

    @api.get("/files/{link}/{name}", include_in_schema=False)
    def public_file(link: str, name: str) -> Response:
        with app.db.read() as s:
            a = s.execute(select(Attachment).where(col(Attachment.link_token) == link)).scalar_one_or_none()
        if a is None or a.expired or not a.storage_path or len(link) < 20:
            return JSONResponse({"error": "not_found", "message": "This file link has expired."}, 404)
        return FileResponse(app.inbox.files.path(a.storage_path), media_type=a.mime_type, filename=a.file_name)


def _one_line(errors: Sequence[Any]) -> str:
    """FastAPI's validation errors as one line a person can act on."""
    if not errors:
        return "The request is invalid."
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}" if where else f"{first.get('msg', 'invalid')}{more}"


def _include_routes(api: FastAPI, app: App) -> None:
    """The routes of ``api/routes/`` (its ``ROUTERS`` list), then plugins' under /plugins."""
    for router in ROUTERS:
        api.include_router(router)
    plugin_router = APIRouter(prefix="/plugins", dependencies=[Depends(security.require_token)])
    app.plugins.call_each("register_routes", router=plugin_router, inbox=app.inbox)
    api.include_router(plugin_router)


def _version() -> str:
    from tray_agent import __version__

    return __version__


class _Server(QuietServer):
    """uvicorn that ends the open event streams first, so a shutdown never waits on a window."""

    def __init__(self, config: uvicorn.Config, stopping: asyncio.Event) -> None:
        self.stopping = stopping
        super().__init__(config)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.stopping.set()
        await super().shutdown(sockets)


def bind_address(host: str, port: int | None) -> tuple[str, int]:
    """Where the API listens: ``host`` must be loopback; no port means a free one."""
    if not is_loopback_host(host):
        raise TrayAgentError(f"The local API only listens on loopback, not {host!r}.")
    return host, port or free_port(host)


class ApiServer:
    """uvicorn serving ``api`` on a loopback address, in the current thread's event loop.
    It only serves: what runs behind the API is started and stopped by the runner."""

    def __init__(self, api: FastAPI, state: ApiState, host: str, port: int) -> None:
        self.api = api
        self.host, self.port = host, port
        self.url = f"http://{self.host}:{self.port}"
        self.server = _Server(uvicorn.Config(self.api, host=self.host, port=self.port, log_level="warning",
                                             lifespan="on", access_log=False, timeout_graceful_shutdown=5,
                                             ws="none"),  # no WebSocket route: its stack stays unloaded
                              state.stopping)

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    async def serve(self) -> None:
        await self.server.serve()

    def should_exit(self) -> None:
        """Ask the server to stop (from any thread): streams end, then connections close."""
        self.server.should_exit = True
