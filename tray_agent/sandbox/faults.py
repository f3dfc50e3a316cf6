"""Fault injection for the sandbox's provider APIs, as an ASGI layer around the app: rate
limits with Retry-After, server errors, slow answers, and connections dropped before or
after the request was processed (the ambiguous case a client must not turn into a
duplicate send).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from tray_agent.sandbox.state import Fault, SandboxState

log = logging.getLogger(__name__)

Scope = dict[str, Any]


def provider_of(path: str) -> str | None:
    if path.startswith("/2010-04-01/"):
        return "twilio"
    if path.startswith("/v") or path.startswith("/_sandbox/wa-media/"):
        return "meta"
    return None


def error_body(provider: str, status: int, code: int | None) -> tuple[dict[str, Any], int]:
    """The provider's own error format for an injected failure."""
    if provider == "twilio":
        code = code or {429: 20429, 401: 20003, 400: 21211, 404: 20404}.get(status, 20500)
        message = {20429: "Too Many Requests", 20003: "Authenticate", 21211: "Invalid 'To' Phone Number",
                   20404: "The requested resource was not found"}.get(code, "An internal server error has occurred")
        return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status}, code
    code = code or {429: 130429, 401: 190, 400: 100}.get(status, 131000)
    message = {130429: "(#130429) Rate limit hit", 190: "Invalid OAuth access token", 100: "(#100) Invalid parameter",
               131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit"}.get(
        code, "(#131000) Something went wrong")
    return {"error": {"message": message, "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": "Injected by the sandbox."},
                      "fbtrace_id": "sandbox"}}, code


class FaultInjector:
    """ASGI middleware: the next matching provider request meets the queued fault."""

    def __init__(self, app: Any, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        provider = provider_of(scope.get("path", "")) if scope["type"] == "http" else None
        fault = self.state.take_fault(provider, scope["method"], scope["path"]) if provider else None
        if fault is None:
            await self.app(scope, receive, send)
            return
        assert provider is not None
        if fault.kind == "error":
            await self._error(provider, fault, send)
        elif fault.kind == "slow":
            # Read the request first: the provider has it even if the client gives up waiting.
            replay = await _buffered(receive)
            await asyncio.sleep(fault.delay)
            await self.app(scope, replay, send)
        elif fault.kind == "hang":
            await asyncio.sleep(fault.delay)
            await _drop(send)
        elif fault.kind == "drop":
            await _drop(send)
        elif fault.kind == "drop_after":
            await self.app(scope, receive, _swallow)
            await _drop(send)
        else:
            await self.app(scope, receive, send)

    async def _error(self, provider: str, fault: Fault, send: Any) -> None:
        body, _code = error_body(provider, fault.status, fault.code)
        raw = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        if fault.retry_after is not None:
            headers.append((b"retry-after", str(int(fault.retry_after) if float(fault.retry_after).is_integer()
                                                else fault.retry_after).encode()))
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": raw})


async def _buffered(receive: Any) -> Any:
    """Read the whole request body now; return a ``receive`` that replays it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

    async def replay() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replay


async def _swallow(message: dict[str, Any]) -> None:
    """A ``send`` that discards the response: the request was processed, the answer is lost."""
    return None


async def _drop(send: Any) -> None:
    """Close the TCP connection without an answer. uvicorn's ``send`` is a bound method of
    the request cycle, which holds the transport."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("sandbox: dropping the connection")  # best effort: a 500
    transport.abort()
    # Let uvicorn see the disconnect, so it does not complain that nothing was answered.
    for _ in range(3):
        await asyncio.sleep(0)
