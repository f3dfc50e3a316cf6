"""Builds the FastAPI application around an ``App`` and serves it with uvicorn on loopback.

Routes live in their own modules (``routes_*.py``) and are included here. Webhooks and
file links are the only paths without the token: providers call them, so they are
verified by signature (webhooks) or by an unguessable, expiring link (files). Every
other request passes ``security.Guard`` (loopback Host, own Origin, token).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy import select
from starlette.exceptions import HTTPException as StarletteHTTPException

from tray_agent.api import security
from tray_agent.api.quiet_server import QuietServer
from tray_agent.app import App
from tray_agent.core.errors import TrayAgentError
from tray_agent.core.models import Attachment
from tray_agent.runtime import Runtime

log = logging.getLogger(__name__)
PUBLIC_PREFIXES = security.PUBLIC_PREFIXES


def create_api(app: App, runtime: Runtime | None = None, *, token: str | None = None,
               start_runtime: bool = True) -> FastAPI:
    runtime = runtime or Runtime(app, app.config.api.public_url)
    # No Swagger page: it loads its script from a CDN, which the CSP (rightly) refuses.
    api = FastAPI(title="Tray Agent", version=_version(), lifespan=runtime_lifespan(app, runtime, start_runtime),
                  docs_url=None, openapi_url="/api/openapi.json", redoc_url=None)
    api.state.app = app
    api.state.runtime = runtime
    api.state.token = token or security.load_or_create_token(app.paths.token_file)
    api.add_middleware(security.Guard, token_of=lambda: api.state.token)

    add_error_handlers(api)
    add_provider_routes(api, app, runtime)
    _include_routes(api, app)
    return api


def runtime_lifespan(app: App, runtime: Runtime, start_runtime: bool = True):  # type: ignore[no-untyped-def]
    """The server's lifespan: the channels' runtime runs while it serves."""

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        api.state.stopping = asyncio.Event()  # set when the server shuts down: streams end
        if start_runtime:
            runtime.start()
        app.plugins.call_each("agent_started", app=app)
        try:
            yield
        finally:
            if start_runtime:
                await runtime.stop()

    return lifespan


def add_error_handlers(api: FastAPI, user_error_body: Callable[[TrayAgentError], dict[str, Any]]
                       = TrayAgentError.to_dict) -> None:
    """Errors as the API's JSON: {"error": code, "message": one line} (a team server's sync
    API passes its own ``user_error_body`` for its stable refusal codes)."""

    @api.exception_handler(TrayAgentError)
    async def user_error(_request: Request, exc: TrayAgentError) -> JSONResponse:
        return JSONResponse(user_error_body(exc), status_code=exc.status, headers=_retry_after(exc))

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
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


def add_provider_routes(api: FastAPI, app: App, runtime: Runtime) -> None:
    """The paths providers call: channel webhooks (signed) and expiring file links."""

    @api.api_route("/webhooks/{channel_id}/{path:path}", methods=["GET", "POST"], include_in_schema=False)
    async def webhook(channel_id: int, path: str, request: Request) -> Response:
        for route in runtime.routes.get(channel_id, []):
            if route.method == request.method and route.path.strip("/") == path.strip("/"):
                return await route.handler(request)
        return JSONResponse({"error": "not_found", "message": "No such webhook."}, 404)

    @api.get("/files/{link}/{name}", include_in_schema=False)
    def public_file(link: str, name: str) -> Response:
        with app.db.read() as s:
            a = s.execute(select(Attachment).where(Attachment.link_token == link)).scalar_one_or_none()
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
    """Include every ``routes_*`` module's ``router`` (and plugins' routes under /plugins)."""
    import importlib
    import pkgutil

    from fastapi import APIRouter, Depends

    pkg = Path(__file__).parent
    for mod in sorted(m.name for m in pkgutil.iter_modules([str(pkg)]) if m.name.startswith("routes_")):
        module = importlib.import_module(f"tray_agent.api.{mod}")
        include = getattr(module, "include", None)
        if include is not None:
            include(api)
        else:
            api.include_router(module.router)
    plugin_router = APIRouter(prefix="/plugins", dependencies=[Depends(security.require_token)])
    app.plugins.call_each("register_routes", router=plugin_router, inbox=app.inbox)
    api.include_router(plugin_router)


def _version() -> str:
    from tray_agent import __version__

    return __version__


class _Server(QuietServer):
    """uvicorn that ends the open event streams first, so a shutdown never waits on a window."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        stopping = getattr(self.config.app.state, "stopping", None)
        if stopping is not None:
            stopping.set()
        await super().shutdown(sockets)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ApiServer:
    """uvicorn serving the API on loopback, in the current thread's event loop."""

    def __init__(self, app: App, *, host: str | None = None, port: int | None = None,
                 runtime: Runtime | None = None) -> None:
        self.app = app
        host = host or app.config.api.host
        if not security.is_loopback_host(host):
            raise TrayAgentError(f"The local API only listens on loopback, not {host!r}.")
        self.host = host
        self.port = port or app.config.api.port or free_port(host)
        self.url = f"http://{self.host}:{self.port}"
        self.runtime = runtime or Runtime(app, app.config.api.public_url or self.url)
        self.api = create_api(app, self.runtime)
        self.server = _Server(uvicorn.Config(self.api, host=self.host, port=self.port, log_level="warning",
                                             lifespan="on", access_log=False, timeout_graceful_shutdown=5))

    async def serve(self) -> None:
        from tray_agent import startup

        await startup.before_serve(self.app, self)
        try:
            await self.server.serve()
        finally:
            await startup.after_serve(self.app, self)

    def should_exit(self) -> None:
        self.server.should_exit = True

    async def wait_started(self) -> None:
        while not self.server.started:
            await asyncio.sleep(0.01)
