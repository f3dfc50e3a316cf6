"""Answers for what no route answered well: an unexpected exception becomes the API's JSON
error (logged with its traceback) on a connection that stays usable, and a wrong method
lists every method the path has, in ``Allow``."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from tray_agent.api.security import PUBLIC_PREFIXES, Message, Receive, Scope, Send

log = logging.getLogger("tray_agent.api")
INTERNAL = {"error": "internal", "message": "Something went wrong on the agent; the log has the details."}


def _where(scope: Scope) -> str:
    """The request for the log: method and path, never the query (the launch URL carries the
    token) nor a public path's tail (file links are secrets)."""
    path = str(scope.get("path", ""))
    for prefix in PUBLIC_PREFIXES:
        if path.startswith(prefix):
            path = prefix + "…"
    return f"{scope.get('method', '')} {path}"


class InternalErrors:
    """ASGI middleware: an exception that escapes a route answers 500 with the JSON error and
    the connection is kept (the exception is not re-raised to the server, which would drop
    it under a keep-alive client). Once a response has started (a stream), the server must
    cut the connection: the exception goes on."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("Unexpected error answering %s", _where(scope))
            if started:
                raise
            body = json.dumps(INTERNAL).encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


async def last_resort(request: Request, _exc: Exception) -> JSONResponse:
    """Starlette's outermost handler (an exception outside the routes, already logged by the
    server): the same JSON, and ``Connection: close`` because the server drops it."""
    return JSONResponse(INTERNAL, status_code=500, headers={"Connection": "close"})


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (one route per method in FastAPI, so the
    router's own 405 names only the first). Asked of the router itself, method by method,
    so included routers and plugins' routes count too."""
    methods = [m for m in _METHODS if any(route.matches({**request.scope, "method": m})[0] == Match.FULL
                                          for route in request.app.router.routes)]
    return [*methods, "OPTIONS"] if methods else []


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def method_not_allowed(request: Request, message: str) -> Response:
    allow = ", ".join(allowed_methods(request))
    if request.method == "OPTIONS" and allow:
        return Response(status_code=204, headers={"Allow": allow})
    return JSONResponse({"error": "method_not_allowed", "message": message}, status_code=405,
                        headers={"Allow": allow} if allow else None)
