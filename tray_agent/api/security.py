"""The API's defences: a per-install token, loopback-only Host headers (against DNS
rebinding), same-origin requests only (no CORS), and a strict Content-Security-Policy.

``Guard`` is plain ASGI middleware so it also sees the live stream's long responses
without buffering them, and it answers before any route runs.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request
from starlette.requests import HTTPConnection

from tray_agent import secrets as credentials

TOKEN_COOKIE = "tray_agent_token"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
#: Paths providers call (signed webhooks, unguessable expiring file links): no token.
PUBLIC_PREFIXES = ("/webhooks/", "/files/")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def load_or_create_token(path: Path) -> str:
    """The install's API token, kept in a file only the user can read."""
    try:
        token = path.read_text().strip()
        if len(token) >= 32:
            os.chmod(path, 0o600)
            credentials.remember(token)  # never in a log line
            return token
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    credentials.remember(token)
    return token


def window_url(base_url: str, token: str, conversation_id: int | None = None) -> str:
    """The address the desktop opens the chat window at: the token is traded once for an
    HttpOnly cookie (then redirected away, so it stays out of history), and the fragment
    opens a conversation."""
    url = f"{base_url.rstrip('/')}/?token={quote(token)}"
    return url + (f"#/conversation/{int(conversation_id)}" if conversation_id is not None else "")


def is_loopback_host(host_header: str | None) -> bool:
    if not host_header:
        return False
    host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cookie_name(host_header: str | None) -> str:
    """The token cookie's name, per port: cookies ignore ports, and two agents (or a test
    run's servers) on 127.0.0.1 must not overwrite each other's token."""
    _, sep, port = (host_header or "").rpartition(":")
    return f"{TOKEN_COOKIE}_{port if sep and port.isdigit() else '80'}"


def origin_allowed(origin: str | None, host_header: str | None) -> bool:
    """No Origin (a same-origin GET, a non-browser client) or exactly our own origin."""
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme == "http" and parts.netloc == (host_header or "") and is_loopback_host(parts.netloc)


def _given_token(headers: dict[str, str], cookies: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return cookies.get(cookie_name(headers.get("host")), "")


def token_matches(expected: str, request: Request) -> bool:
    given = _given_token({k: v for k, v in request.headers.items()}, dict(request.cookies))
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries this install's token."""
    if not token_matches(request.app.state.token, request):
        raise HTTPException(status_code=401, detail="Missing or wrong API token.")


class Guard:
    """Refuses foreign hosts and origins and requests without the token; adds the
    security headers to every answer."""

    def __init__(self, app: Callable[..., Awaitable[None]], token_of: Callable[[], str]) -> None:
        self.app = app
        self.token_of = token_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request = HTTPConnection(scope)  # a websocket handshake is no Request
        refusal = self._refusal(request)
        if refusal is not None:
            status, code, message = refusal
            if scope["type"] == "websocket":
                await _refuse_websocket(scope, receive, send, status, {"error": code, "message": message})
                return
            if status == 401 and scope["method"] == "GET" and "text/html" in request.headers.get("accept", ""):
                await _html(send, status, SIGN_IN_PAGE)  # a person in a browser, not an API client
                return
            await _json(send, status, {"error": code, "message": message})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {k.lower() for k, _ in headers}
                for k, v in _SECURITY_HEADERS:
                    if k not in present:
                        headers.append((k, v))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, request: HTTPConnection) -> tuple[int, str, str] | None:
        path = request.url.path
        if path.startswith(PUBLIC_PREFIXES):
            return None  # providers reach these through proxies; they verify signatures
        host = request.headers.get("host")
        # DNS rebinding: a page on another site resolving its name to 127.0.0.1 still
        # sends its own Host.
        if not is_loopback_host(host):
            return 403, "forbidden", "This API answers loopback hosts only."
        if not origin_allowed(request.headers.get("origin"), host):
            return 403, "forbidden", "Requests from other web pages are refused."
        if path == "/" and "token" in request.query_params:
            return None  # the launch URL trades its token for the cookie (routes_ui)
        given = _given_token(dict(request.headers.items()), dict(request.cookies))
        if not given or not hmac.compare_digest(given.encode(), self.token_of().encode()):
            return 401, "unauthorized", "Missing or wrong API token; open the window from the tray icon."
        return None


_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send, status: int, body: dict[str, str]) -> None:
    """An HTTP answer to the handshake where the server can send one (the ASGI denial
    response), else a policy close."""
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await _json(send, status, body, prefix="websocket.")
    else:
        await send({"type": "websocket.close", "code": 1008})


#: What a browser that opened the address without the window's key is shown.
SIGN_IN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>Tray Agent — open the window</title></head>
<body>
<h1>This address needs the window's key</h1>
<p>Tray Agent only lets in the browser that opens its window with the key. To get in:</p>
<ul><li>click the Tray Agent icon in the system tray, or</li>
<li>run <code>tray-agent open --browser</code> in a terminal, or run <code>tray-agent open</code>
and open the address it prints (it carries the key).</li></ul>
<p>API clients send the agent's token (the <code>api-token</code> file in its config folder) as
<code>Authorization: Bearer &lt;token&gt;</code>.</p></body></html>"""


async def _html(send: Send, status: int, page: str) -> None:
    data = page.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(data)).encode()), *_SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": data})


async def _json(send: Send, status: int, body: dict[str, str], prefix: str = "") -> None:
    data = json.dumps(body).encode()
    await send({"type": f"{prefix}http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *_SECURITY_HEADERS]})
    await send({"type": f"{prefix}http.response.body", "body": data})
