"""The sandbox as a running server: the FastAPI app assembled from the two providers, the
admin API and the customer-phone page, served by uvicorn on loopback — in the foreground
(``tray-agent sandbox``) or in a background thread of the agent or a test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from tray_agent.core.clock import Clock
from tray_agent.net import free_port, is_loopback_host
from tray_agent.sandbox import admin, meta_api, twilio_api
from tray_agent.sandbox.faults import FaultInjector
from tray_agent.sandbox.state import NumberHooks, SandboxCredentials, SandboxState
from tray_agent.sandbox.webhooks import Deliverer
from tray_agent.telemetry import no_telemetry

T = TypeVar("T")
STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def create_app(state: SandboxState) -> tuple[Any, SimpleNamespace]:
    """The sandbox's ASGI app (fault injection around it) and the handle its routes share."""
    api = FastAPI(title="Tray Agent provider sandbox", docs_url=None, redoc_url=None, openapi_url=None,
                  **no_telemetry())
    handle = SimpleNamespace(state=state, deliverer=Deliverer(state))
    api.state.sandbox = handle

    @api.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # A page elsewhere resolving its own name to 127.0.0.1 still sends its own Host.
        if not is_loopback_host(request.headers.get("host")):
            return JSONResponse({"error": "forbidden", "message": "The sandbox answers loopback hosts only."}, 403)
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @api.get("/", include_in_schema=False)
    def phone_page() -> Response:
        return FileResponse(STATIC / "phone.html", media_type="text/html")

    @api.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @api.get("/_sandbox/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        types = {"phone.js": "text/javascript", "phone.css": "text/css"}
        if name not in types:
            return JSONResponse({"error": "not_found"}, 404)
        return FileResponse(STATIC / name, media_type=types[name])

    for router in (admin.router, admin.changes, twilio_api.router, meta_api.router):
        api.include_router(router)
    return FaultInjector(api, state), handle


class Sandbox:
    """Both fake providers on one loopback port, with fresh fake credentials per run."""

    def __init__(self, *, clock: Clock | None = None, credentials: SandboxCredentials | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        from tray_agent.quiet_server import QuietServer

        if not is_loopback_host(host):
            raise ValueError(f"The sandbox only listens on loopback, not {host!r}.")
        self.state = SandboxState(credentials, clock)
        self._base_clock = self.state.clock.base  # what reset() puts back
        self.app, self.handle = create_app(self.state)
        self.host, self.port = host, port or free_port(host)
        self.url = f"http://{self.host}:{self.port}"
        self.state.base_url = self.url
        self.server = QuietServer(uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                                                    access_log=False, lifespan="off"))
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def creds(self) -> SandboxCredentials:
        return self.state.creds

    # -- running ------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Serve in the current event loop until told to stop (the CLI's foreground mode)."""
        self.loop = asyncio.get_running_loop()
        try:
            await self.server.serve()
        finally:
            await self.handle.deliverer.aclose()

    def start(self, timeout: float = 15.0) -> "Sandbox":
        """Serve from a background thread with its own event loop; returns once it answers."""
        started = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.loop = loop
            started.set()
            try:
                loop.run_until_complete(self.serve())
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name=f"sandbox-{self.port}", daemon=True)
        self._thread.start()
        started.wait(timeout)
        for _ in range(int(timeout / 0.01)):
            if self.server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self.server.started:
            raise RuntimeError(f"The provider sandbox could not start on {self.url}.")
        return self

    def reset(self) -> "Sandbox":
        """Forget every message, fault, held webhook and registered webhook URL (the state
        a fresh sandbox starts in), so one server can serve many tests."""
        self.state.reset()
        self.state.clock.base = self._base_clock  # a test may have swapped in its own clock
        self.handle.deliverer.held.clear()
        for hooks in [*self.state.sms_hooks.values(), *self.state.wa_hooks.values()]:
            hooks.url, hooks.verified = "", False
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        """Run a coroutine in the sandbox's loop from another thread."""
        assert self.loop is not None, "start() the sandbox first"
        fut: Future[T] = asyncio.run_coroutine_threadsafe(_await(coro), self.loop)
        return fut.result(timeout)

    # -- wiring an agent ---------------------------------------------------------------------------

    def register_sms(self, url: str, number: str | None = None) -> None:
        """Point a business number's "A message comes in" webhook at ``url``."""
        number = number or self.creds.sms_number
        with self.state.lock:
            self.state.sms_hooks[number] = NumberHooks(number, url)

    def register_whatsapp(self, url: str, phone_number_id: str | None = None) -> None:
        """Set the WhatsApp callback URL (call ``verify_whatsapp`` once it answers)."""
        pnid = phone_number_id or self.creds.phone_number_id
        with self.state.lock:
            old = self.state.wa_hooks.get(pnid)
            self.state.wa_hooks[pnid] = NumberHooks(old.number if old else self.creds.whatsapp_number, url)

    async def verify_whatsapp(self, phone_number_id: str | None = None) -> tuple[bool, str]:
        """Meta's GET handshake against the callback URL (awaitable from any loop)."""
        pnid = phone_number_id or self.creds.phone_number_id
        if self.loop is not None and self.loop is not asyncio.get_running_loop():
            fut = asyncio.run_coroutine_threadsafe(meta_api.verify_callback(self.handle, pnid), self.loop)
            return await asyncio.wrap_future(fut)
        return await meta_api.verify_callback(self.handle, pnid)


async def _await(aw: Awaitable[T]) -> T:
    return await aw
